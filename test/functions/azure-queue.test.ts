import { TableClient } from '@azure/data-tables';
import type { StorageQueueHandler } from '@azure/functions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStorageQueueProducer, type StorageQueueProducer } from '../../client/azure.ts';
import { AzureQueueHost, HOST_QUEUE_SETTINGS } from '../helpers/azure-queue-host.ts';
import { startHangingProxy } from '../helpers/hanging-proxy.ts';
import {
  ACS_SMTP_SECRET,
  type AzureWorld,
  captureContextLogs,
  copies,
  message,
  peekJson,
  startAzureWorld,
} from './azure-world.ts';

let world: AzureWorld;
let queues: { send: string; failed: string };
let producer: StorageQueueProducer;
let logs: ReturnType<typeof captureContextLogs>;

/** A new function instance: every module loaded afresh (a cold start); the same storage and servers. */
async function coldHandler(): Promise<StorageQueueHandler> {
  vi.resetModules();
  return (await import('../../functions/azure/queue.ts')).sendQueuedMessage as StorageQueueHandler;
}

/** The host, as host.json configures it, but retrying at once (`visibilityTimeout` 0) to keep the test fast. */
async function hostFor(handler?: StorageQueueHandler, leaseSeconds = 5) {
  return new AzureQueueHost({
    service: world.queues,
    queueName: queues.send,
    handler: handler ?? (await coldHandler()),
    settings: { visibilityTimeout: 0 },
    leaseSeconds,
    logHandler: logs.logHandler,
  });
}

/** What a producer that skips validation (or another language's) might put on the queue: base64 text, as is. */
const enqueueRaw = async (text: string) =>
  (await world.queues.getQueueClient(queues.send).sendMessage(Buffer.from(text).toString('base64'))).messageId;

const records = () => logs.lines().filter((l) => l.message === 'record');

/**
 * The host's `functionTimeout`: an invocation still running after `ms` fails with the host's own message (the
 * real host also restarts the worker), so a test sees whether the function answered in time.
 */
function withFunctionTimeout(handler: StorageQueueHandler, ms: number): StorageQueueHandler {
  return async (item, context) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timeout value of ${ms} ms was exceeded by function`)), ms);
    });
    try {
      await Promise.race([handler(item, context), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

beforeAll(async () => {
  world = await startAzureWorld();
});
beforeEach(async () => {
  queues = await world.freshQueues();
  await world.freshTable();
  producer = createStorageQueueProducer({ connectionString: world.azurite.connectionString, queueName: queues.send });
  logs = captureContextLogs();
});
afterEach(() => {
  world.primary.fault = undefined;
});
afterAll(() => world.stop());

describe('Storage Queue handler, fed through a host simulator from a real queue in Azurite', () => {
  it('mixed batch: good ones sent once, permanent failures in the failed queue at once, the throttled one poisoned', async () => {
    const ids = {
      good: (await producer.enqueue(message('mixed good'))).messageId,
      notJson: await enqueueRaw('{"from": "app@example.com", "to": '),
      invalid: await enqueueRaw(
        JSON.stringify(message('mixed invalid', { to: ['ann@example.net', 'not an address'] })),
      ),
      rejected: (await producer.enqueue(message('mixed rejected', { to: 'nobody@example.net' }))).messageId,
      throttled: (await producer.enqueue(message('mixed throttled', { route: 'busy' }))).messageId,
      keyed: (await producer.enqueue(message('mixed keyed', { idempotencyKey: 'order-1042-receipt' }))).messageId,
    };
    // The relay refuses this recipient (so every recipient of that message) at RCPT TO.
    world.primary.fault = { stage: 'rcpt', recipients: ['nobody@example.net'], reply: '550 Mailbox unavailable' };
    const host = await hostFor();
    await host.runUntilIdle();

    expect([copies(world.primary, 'mixed good'), copies(world.primary, 'mixed keyed')]).toEqual([1, 1]);
    expect(world.primary.received).toHaveLength(2);

    // Permanent failures: in the failed queue on their first dequeue, with the original body and the reason.
    const failed = (await peekJson(world.queues, queues.failed)).sort((a, b) =>
      String(a.errorCode).localeCompare(String(b.errorCode)),
    );
    expect(failed).toEqual([
      {
        body: '{"from": "app@example.com", "to": ',
        reason: expect.stringMatching(/^INVALID_JSON: the record body is not JSON/),
        errorCode: 'INVALID_JSON',
        sourceMessageId: ids.notJson,
        dequeueCount: 1,
        failedAt: expect.any(String),
      },
      {
        body: JSON.stringify(message('mixed invalid', { to: ['ann@example.net', 'not an address'] })),
        reason: expect.stringMatching(/^INVALID_MESSAGE: Invalid message: to\[1\]/),
        errorCode: 'INVALID_MESSAGE',
        sourceMessageId: ids.invalid,
        dequeueCount: 1,
        failedAt: expect.any(String),
        issues: [{ path: 'to[1]', message: '"not an address" is not an email address (local@domain)' }],
      },
      {
        body: JSON.stringify(message('mixed rejected', { to: 'nobody@example.net' })),
        reason: expect.stringMatching(/^RECIPIENT_REJECTED: .*nobody@example\.net.*550/),
        errorCode: 'RECIPIENT_REJECTED',
        sourceMessageId: ids.rejected,
        dequeueCount: 1,
        failedAt: expect.any(String),
      },
    ]);
    const runs = (id: string) =>
      host.invocations.filter((i) => i.messageId === id).map((i) => [i.dequeueCount, i.result]);
    for (const id of [ids.good, ids.notJson, ids.invalid, ids.rejected, ids.keyed]) {
      expect(runs(id)).toEqual([[1, 'succeeded']]);
    }

    // The throttled one: retried through the dequeue count, then moved by the host, its original text intact.
    const max = HOST_QUEUE_SETTINGS.maxDequeueCount;
    expect(runs(ids.throttled)).toEqual([
      ...Array.from({ length: max - 1 }, (_, i) => [i + 1, 'failed']),
      [max, 'poisoned'],
    ]);
    expect(await peekJson(world.queues, `${queues.send}-poison`)).toEqual([
      message('mixed throttled', { route: 'busy' }),
    ]);
    expect((await world.queues.getQueueClient(queues.send).getProperties()).approximateMessagesCount).toBe(0);

    // Logs: one record line per dequeue; the last retry says where it goes; addresses masked, no secret.
    const throttledLines = records().filter((l) => l.queueMessageId === ids.throttled);
    expect(throttledLines.map((l) => [l.status, l.dequeueCount, l.setAside])).toEqual([
      ...Array.from({ length: max - 1 }, (_, i) => ['retry', i + 1, undefined]),
      ['retry', max, 'poison-queue'],
    ]);
    expect(throttledLines.at(-1)).toMatchObject({
      level: 'warning',
      reason: expect.stringMatching(/THROTTLED/),
      poisonQueue: `${queues.send}-poison`,
    });
    expect(records().find((l) => l.queueMessageId === ids.rejected)).toMatchObject({
      status: 'dead-letter',
      setAside: 'failed-queue',
      errorCode: 'RECIPIENT_REJECTED',
    });
    const sent = logs.lines().find((l) => l.message === 'attempt' && l.queueMessageId === ids.good);
    expect(sent).toMatchObject({
      level: 'information',
      name: 'acs-smtp',
      provider: 'azure',
      mode: 'smtp',
      outcome: 'sent',
    });
    const text = logs.text();
    expect(text).toContain('n***@example.net');
    expect(text).not.toMatch(/ann@example\.net|nobody@example\.net/);
    expect(text).not.toContain(ACS_SMTP_SECRET);
  });

  it('sends nothing twice: the function succeeded, the delete was lost, another instance gets it again', async () => {
    const { messageId } = await producer.enqueue(message('redelivered'));
    const first = await hostFor(undefined, 1);
    first.failDeletes = 1;
    expect(await first.poll()).toBe(1);
    // The lease runs out and the message comes back, with dequeueCount 2, to a new instance (a cold start).
    const second = await hostFor(undefined, 1);
    await second.runUntilIdle();

    expect(copies(world.primary, 'redelivered')).toBe(1);
    expect([...first.invocations, ...second.invocations].map((i) => [i.dequeueCount, i.result])).toEqual([
      [1, 'succeeded'],
      [2, 'succeeded'],
    ]);
    expect(records().map((l) => [l.queueMessageId, l.status])).toEqual([
      [messageId, 'sent'],
      [messageId, 'duplicate'],
    ]);
    // The idempotency record that recognized it lives in the Azure Table (MAILROUTE_STORE_TABLE), not in memory.
    const table = TableClient.fromConnectionString(world.azurite.connectionString, process.env.MAILROUTE_STORE_TABLE!, {
      allowInsecureConnection: true,
    });
    const keys: string[] = [];
    for await (const entity of table.listEntities<{ key: string }>()) keys.push(entity.key);
    expect(keys.some((k) => k.includes(messageId))).toBe(true);
  });

  it('a message written without base64 goes to the poison queue unread, as the host does', async () => {
    await world.queues.getQueueClient(queues.send).sendMessage(JSON.stringify(message('plain text')));
    const host = await hostFor();
    await host.runUntilIdle();
    expect(host.invocations).toEqual([expect.objectContaining({ invoked: false, result: 'poisoned' })]);
    expect(copies(world.primary, 'plain text')).toBe(0);
  });

  it('keeps a permanent failure on the queue when the failed queue cannot take it (then poison, never lost)', async () => {
    vi.stubEnv('MAILROUTE_FAILED_QUEUE', `${queues.failed}-missing`);
    const id = await enqueueRaw('not json either');
    const host = await hostFor();
    await host.runUntilIdle();
    expect(host.invocations.filter((i) => i.messageId === id).at(-1)).toMatchObject({
      dequeueCount: HOST_QUEUE_SETTINGS.maxDequeueCount,
      result: 'poisoned',
      error: expect.stringMatching(/dead-letter write failed .*does not exist.*INVALID_JSON/),
    });
    const { peekedMessageItems } = await world.queues.getQueueClient(`${queues.send}-poison`).peekMessages();
    expect(Buffer.from(peekedMessageItems[0]!.messageText, 'base64').toString()).toBe('not json either');
  });

  it('a failed queue that never answers: the invocation fails in time (retried), the sent one is completed; nothing lost', async () => {
    // The function reaches its queues through a proxy that holds the failed-queue write; the host, directly.
    const proxy = await startHangingProxy(world.azurite.queueEndpoint!);
    const direct = world.azurite.connectionString;
    vi.stubEnv('AzureWebJobsStorage', direct.replace(world.azurite.queueEndpoint!, `${proxy.url}/devstoreaccount1`));
    vi.stubEnv('AzureFunctionsJobHost__functionTimeout', '00:00:03');
    vi.stubEnv('MAILROUTE_DEADLINE_MARGIN_MS', '1000');
    try {
      proxy.hang((req) => req.method === 'POST' && Boolean(req.url?.includes(`/${queues.failed}/messages`)));
      const good = (await producer.enqueue(message('silent failed queue good'))).messageId;
      const notJson = await enqueueRaw('not json, and the failed queue is silent');
      const host = await hostFor(withFunctionTimeout(await coldHandler(), 3_000));
      expect(await host.poll()).toBe(2);

      const runs = (id: string) =>
        host.invocations.filter((i) => i.messageId === id).map((i) => [i.dequeueCount, i.result, i.error]);
      expect(runs(good)).toEqual([[1, 'succeeded', undefined]]);
      expect(runs(notJson)).toEqual([
        [1, 'failed', expect.stringMatching(/dead-letter write did not finish in the \d+ ms left; INVALID_JSON/)],
      ]);
      expect(copies(world.primary, 'silent failed queue good')).toBe(1);
      expect(await peekJson(world.queues, queues.failed)).toEqual([]);
      // The write was cancelled, not only left behind: the SDK closed the held request.
      expect(proxy.held()).toBe(1);
      await proxy.released();

      // The failed queue answers again: the redelivery sets the message aside; the sent one is not sent again.
      proxy.clear();
      await host.runUntilIdle();
      expect(runs(notJson).slice(1)).toEqual([[2, 'succeeded', undefined]]);
      expect(await peekJson(world.queues, queues.failed)).toEqual([
        expect.objectContaining({
          body: 'not json, and the failed queue is silent',
          sourceMessageId: notJson,
          dequeueCount: 2,
        }),
      ]);
      expect(copies(world.primary, 'silent failed queue good')).toBe(1);
      expect((await world.queues.getQueueClient(queues.send).getProperties()).approximateMessagesCount).toBe(0);
    } finally {
      vi.stubEnv('AzureWebJobsStorage', direct);
      vi.stubEnv('AzureFunctionsJobHost__functionTimeout', undefined);
      vi.stubEnv('MAILROUTE_DEADLINE_MARGIN_MS', undefined);
      await proxy.close();
    }
  });

  it("sends nothing after the function's deadline: the message goes back to the queue", async () => {
    // host.json's functionTimeout is 5 minutes: a margin of 6 leaves no time at all.
    vi.stubEnv('MAILROUTE_DEADLINE_MARGIN_MS', String(6 * 60_000));
    await producer.enqueue(message('too late'));
    const host = await hostFor();
    expect(await host.poll()).toBe(1);
    expect(host.invocations).toEqual([
      expect.objectContaining({ result: 'failed', error: expect.stringMatching(/DEADLINE_EXCEEDED/) }),
    ]);
    expect(copies(world.primary, 'too late')).toBe(0);
  });

  it('a broken configuration fails the invocation with the field to fix, and sends nothing', async () => {
    vi.stubEnv('MAILROUTE_CONFIG', '{"providers":[{"provider":"azure","mode":"api"}]}');
    await producer.enqueue(message('never sent'));
    const host = await hostFor();
    expect(await host.poll()).toBe(1);
    expect(host.invocations[0]).toMatchObject({ result: 'failed', error: expect.stringMatching(/connectionString/) });
    expect(logs.lines().find((l) => l.message === 'invocation failed')).toMatchObject({
      level: 'error',
      error: { code: 'CONFIGURATION', issues: [{ path: 'providers[0].connectionString' }] },
    });
    expect(copies(world.primary, 'never sent')).toBe(0);
  });
});
