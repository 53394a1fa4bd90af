import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { putOciQueueMessage } from '../../client/oci.ts';
import { startHangingProxy } from '../helpers/hanging-proxy.ts';
import { startRedis } from '../helpers/redis.ts';
import {
  copies,
  FAILED_QUEUE,
  gatewayHeaders,
  MAX_DELIVERIES,
  message,
  type OciWorld,
  routingConfig,
  SEND_QUEUE,
  SMTP_PASSWORD,
  SMTP_PASSWORD_SECRET,
  SMTP_USER,
  startOciWorld,
  THROTTLE_FAULT,
} from './oci-world.ts';

let world: OciWorld;
let output: string[];

/** What another service put on the send queue, unvalidated (so invalid messages can be there too). */
const put = async (content: string) => (await putOciQueueMessage(world.client, SEND_QUEUE, { content })).messageId;
const json = (value: unknown) => JSON.stringify(value);
/** What a client of the gateway sends with a message: the API takes JSON bodies only. */
const JSON_BODY = { 'Content-Type': 'application/json' };

/** The failed queue's messages as the tests compare them, by source message id. */
function failed() {
  return world.queues
    .messages(FAILED_QUEUE)
    .map(
      (m): Record<string, string | undefined> => ({
        content: m.content,
        channel: m.metadata?.channelId,
        ...m.metadata?.customProperties,
      }),
    )
    .sort((a, b) => String(a.sourceMessageId).localeCompare(String(b.sourceMessageId)));
}
const logLines = () =>
  output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  world = await startOciWorld();
});
beforeEach(async () => {
  output = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  // fdk console.warns every failed invocation; the OCI SDK every failed call.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  await world.startFunction();
});
afterEach(() => {
  world.stopFunction();
  vi.restoreAllMocks();
  world.queues.messages(SEND_QUEUE).splice(0);
  world.queues.deadLetters(SEND_QUEUE).splice(0);
  world.queues.messages(FAILED_QUEUE).splice(0);
  world.primary.fault = undefined;
  world.busy.fault = THROTTLE_FAULT;
});
afterAll(() => world.stop());

describe('OCI function: Connector Hub batches from OCI Queue, through the real fdk listener', () => {
  it('mixed batch: permanent failures go to the failed queue at once; a throttle fails the whole batch', async () => {
    const ids = {
      good: await put(json(message('oci good'))),
      notJson: await put('{"from": "app@example.com", "to": '),
      invalid: await put(json(message('oci invalid', { to: ['ann@example.net', 'not an address'] }))),
      rejected: await put(json(message('oci rejected', { to: 'nobody@example.net' }))),
      throttled: await put(json(message('oci throttled', { route: 'busy' }))),
    };
    world.primary.fault = { stage: 'rcpt', recipients: ['nobody@example.net'], reply: '550 Mailbox unavailable' };

    const first = await world.connectorHubMove();
    expect(first.delivered).toBe(5);
    // fdk answers 502 for a rejected promise: Fn reports a function error, and Connector Hub leaves the batch.
    expect(first.response?.status).toBe(502);
    expect(JSON.parse(first.response!.body)).toEqual({
      message: 'Exception in function, consult logs for details',
      detail: `Error: 1 of 5 record(s) to retry: ${ids.throttled}`,
    });
    expect(copies(world.primary, 'oci good')).toBe(1);
    expect(world.busy.received).toHaveLength(0);
    expect(world.queues.messages(SEND_QUEUE).map((m) => [String(m.id), m.deliveryCount])).toEqual(
      Object.values(ids).map((id) => [id, 1]),
    );
    const original = (id: string) => world.queues.messages(SEND_QUEUE).find((m) => String(m.id) === id)!.content;
    const expected = [
      ['notJson', /^INVALID_JSON: the record body is not JSON/, 'INVALID_JSON'],
      ['invalid', /^INVALID_MESSAGE: Invalid message: to\[1\]/, 'INVALID_MESSAGE'],
      ['rejected', /^RECIPIENT_REJECTED: .*nobody@example\.net.*550/, 'RECIPIENT_REJECTED'],
    ] as const;
    expect(failed()).toEqual(
      expected
        .map(([key, reason, errorCode]) => ({
          content: original(ids[key]),
          channel: 'mailroute-failed',
          reason: expect.stringMatching(reason),
          errorCode,
          sourceMessageId: ids[key],
          deliveryCount: '1',
        }))
        .sort((a, b) => a.sourceMessageId.localeCompare(b.sourceMessageId)),
    );

    // Connector Hub delivers the same batch again: nothing is sent twice, nothing is set aside twice.
    const second = await world.connectorHubMove();
    expect(second.response?.status).toBe(502);
    expect(copies(world.primary, 'oci good')).toBe(1);
    expect(world.primary.received).toHaveLength(1);
    expect(failed()).toHaveLength(3);

    // The provider takes mail again: the next delivery sends the throttled one and the batch is deleted.
    world.busy.fault = undefined;
    const third = await world.connectorHubMove();
    expect(third.response?.status).toBe(200);
    expect(JSON.parse(third.response!.body)).toEqual({
      records: 5,
      sent: 1,
      duplicate: 1,
      deadLettered: 3,
    });
    expect([copies(world.primary, 'oci good'), copies(world.busy, 'oci throttled')]).toEqual([1, 1]);
    expect(world.queues.messages(SEND_QUEUE)).toEqual([]);
    expect(failed()).toHaveLength(3);

    const records = logLines().filter((l) => l.message === 'record');
    const statusesOf = (id: string) => records.filter((l) => l.queueMessageId === id).map((l) => l.status);
    expect(statusesOf(ids.good)).toEqual(['sent', 'duplicate', 'duplicate']);
    expect(statusesOf(ids.throttled)).toEqual(['retry', 'retry', 'sent']);
    // Addresses are masked in every log line, and the Vault secret never printed.
    const text = output.join('');
    expect(text).toContain('n***@example.net');
    expect(text).not.toMatch(/ann@example\.net|nobody@example\.net/);
    expect(text).not.toContain(SMTP_PASSWORD);
  });

  it('a batch that keeps failing moves to the send queue’s own DLQ after the dead-letter delivery count', async () => {
    const good = await put(json(message('oci poisoned by its batch')));
    const throttled = await put(json(message('oci always throttled', { route: 'busy' })));
    const statuses: number[] = [];
    for (let move = 0; move < MAX_DELIVERIES + 1; move++) {
      const { response } = await world.connectorHubMove();
      if (response) statuses.push(response.status);
    }
    // Three deliveries fail; at the fourth GetMessages the queue moves both messages to its dead-letter queue.
    expect(statuses).toEqual([502, 502, 502]);
    expect(world.queues.messages(SEND_QUEUE)).toEqual([]);
    expect(world.queues.deadLetters(SEND_QUEUE).map((m) => [String(m.id), m.deliveryCount])).toEqual([
      [good, MAX_DELIVERIES],
      [throttled, MAX_DELIVERIES],
    ]);
    // The batch-mate was sent once, on the first delivery, and never again.
    expect(copies(world.primary, 'oci poisoned by its batch')).toBe(1);
  });

  it('a failed queue that never answers: the batch fails before Fn-Deadline (comes back whole), then is set aside; nothing sent twice', async () => {
    // The function reaches the failed queue through a proxy that takes PutMessages and never answers.
    const proxy = await startHangingProxy(world.queues.url);
    vi.stubEnv('MAILROUTE_FAILED_QUEUE_ENDPOINT', proxy.url);
    try {
      await world.startFunction();
      proxy.hang((req) => req.method === 'POST' && Boolean(req.url?.includes(FAILED_QUEUE)));
      const ids = {
        good: await put(json(message('oci silent failed queue good'))),
        notJson: await put('not json, and the failed queue is silent'),
      };
      const end = Date.now() + 3_000;
      const first = await world.connectorHubMove({ 'Fn-Deadline': new Date(end).toISOString() });
      // Answered before Fn-Deadline: a failed invocation, so Connector Hub leaves the whole batch on the queue.
      expect(Date.now()).toBeLessThan(end);
      expect(first.response?.status).toBe(502);
      expect(JSON.parse(first.response!.body).detail).toBe(`Error: 1 of 2 record(s) to retry: ${ids.notJson}`);
      expect(copies(world.primary, 'oci silent failed queue good')).toBe(1);
      expect(failed()).toEqual([]);
      expect(world.queues.messages(SEND_QUEUE).map((m) => [String(m.id), m.deliveryCount])).toEqual([
        [ids.good, 1],
        [ids.notJson, 1],
      ]);
      const record = logLines().find((l) => l.message === 'record' && l.queueMessageId === ids.notJson);
      expect(record).toMatchObject({
        status: 'retry',
        reason: expect.stringMatching(/^dead-letter write did not finish in the \d+ ms left; INVALID_JSON/),
      });
      // The write was cancelled, not only left behind: the SDK closed the held request.
      expect(proxy.held()).toBe(1);
      await proxy.released();

      // The failed queue answers again: the redelivered batch is set aside and deleted; the sent one is a duplicate.
      proxy.clear();
      const second = await world.connectorHubMove();
      expect(second.response?.status).toBe(200);
      expect(JSON.parse(second.response!.body)).toEqual({ records: 2, sent: 0, duplicate: 1, deadLettered: 1 });
      expect(failed()).toEqual([
        expect.objectContaining({
          content: 'not json, and the failed queue is silent',
          errorCode: 'INVALID_JSON',
          sourceMessageId: ids.notJson,
          deliveryCount: '2',
        }),
      ]);
      expect(world.queues.messages(SEND_QUEUE)).toEqual([]);
      expect(copies(world.primary, 'oci silent failed queue good')).toBe(1);
    } finally {
      vi.stubEnv('MAILROUTE_FAILED_QUEUE_ENDPOINT', world.queues.url);
      await proxy.close();
    }
  });

  it('takes a single message and keeps int64 ids whole (two ids equal below 2^53 stay two records)', async () => {
    const body = (subject: string) => JSON.stringify(JSON.stringify(message(subject)));
    const a = await world.invoke(`{"id": 9223372036854775001, "content": ${body('oci big id a')}, "deliveryCount": 1}`);
    const b = await world.invoke(`[{"id": 9223372036854775002, "content": ${body('oci big id b')}}]`);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([JSON.parse(a.body).sent, JSON.parse(b.body).sent]).toEqual([1, 1]);
    const ids = logLines()
      .filter((l) => l.message === 'record')
      .map((l) => l.queueMessageId);
    expect(ids).toEqual(['9223372036854775001', '9223372036854775002']);
  });

  it('fails a payload that is not a Connector Hub batch (it comes back, then goes to the DLQ)', async () => {
    const response = await world.invoke('[{"id": 1, "body": "no content field"}]');
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body).detail).toMatch(/message 0 has no string content/);
  });
});

describe('OCI function: API Gateway requests', () => {
  it('POST /v1/send sends now: 200 with the result; the status travels as Fn-Http-Status', async () => {
    const response = await world.invoke(
      json(message('oci over http')),
      gatewayHeaders('POST', '/v1/send', { 'Content-Type': 'application/json' }),
    );
    expect(response.status).toBe(200);
    expect(response.headers['fn-http-status']).toBe('200');
    expect(JSON.parse(response.body)).toMatchObject({
      ok: true,
      result: { name: 'primary', provider: 'oci', mode: 'smtp', accepted: ['ann@example.net'] },
    });
    expect(copies(world.primary, 'oci over http')).toBe(1);
  });

  it('an invalid message is 400 with the field paths, and nothing is sent', async () => {
    vi.stubEnv('MAILROUTE_HTTP_PATH_PREFIX', '/mailroute');
    try {
      const response = await world.invoke(
        json(message('oci invalid http', { to: 'not an address', subject: 7 })),
        gatewayHeaders('POST', '/mailroute/v1/send?mode=send', JSON_BODY),
      );
      expect(response.headers['fn-http-status']).toBe('400');
      const { error } = JSON.parse(response.body);
      expect(error.code).toBe('INVALID_MESSAGE');
      expect(error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['subject', 'to']);
    } finally {
      vi.stubEnv('MAILROUTE_HTTP_PATH_PREFIX', '');
    }
    expect(copies(world.primary, 'oci invalid http')).toBe(0);
  });

  it('enqueue mode puts the exact JSON on the send queue and answers 202 with its message id', async () => {
    const body = json(message('oci enqueued', { idempotencyKey: 'oci-enqueue-1' }));
    const response = await world.invoke(
      body,
      gatewayHeaders('POST', '/v1/send', { ...JSON_BODY, Prefer: 'respond-async' }),
    );
    expect(response.headers['fn-http-status']).toBe('202');
    expect(response.headers['fn-http-h-preference-applied']).toBe('respond-async');
    const answer = JSON.parse(response.body);
    expect(answer).toEqual({ ok: true, queued: true, queueMessageId: expect.stringMatching(/^\d+$/) });
    expect(world.queues.messages(SEND_QUEUE).map((m) => [String(m.id), m.content])).toEqual([
      [answer.queueMessageId, body],
    ]);
    expect(copies(world.primary, 'oci enqueued')).toBe(0);
  });
});

describe('OCI function: cold start', () => {
  it('reads each { ociVault } secret once, at cold start, with the signed Secrets API', async () => {
    const reads = world.vault.reads.length;
    for (const subject of ['oci vault 1', 'oci vault 2']) {
      const response = await world.invoke(json(message(subject)), gatewayHeaders('POST', '/v1/send', JSON_BODY));
      expect(response.headers['fn-http-status']).toBe('200');
    }
    // Two provider entries share the secret: one read for the container.
    expect(world.vault.reads.slice(reads)).toEqual([SMTP_PASSWORD_SECRET]);
    expect(world.primary.auths.at(-1)).toMatchObject({ username: SMTP_USER, password: SMTP_PASSWORD });
  });

  it('reads the configuration itself from Vault, and names the field of a secret that cannot be read', async () => {
    const missing = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaanosuchsecret';
    const configSecret = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaamailrouteconfig';
    world.vault.secrets.set(configSecret, json(routingConfig(world.primary, world.busy, missing)));
    vi.stubEnv('MAILROUTE_CONFIG', '');
    vi.stubEnv('MAILROUTE_CONFIG_OCI_VAULT', configSecret);
    try {
      await world.startFunction();
      const response = await world.invoke(json(message('oci never')), gatewayHeaders('POST', '/v1/send'));
      expect(response.headers['fn-http-status']).toBe('500');
      const { error } = JSON.parse(response.body);
      expect(error.code).toBe('CONFIGURATION');
      expect(error.issues).toEqual([
        {
          path: 'providers[0].smtpCredentials.password',
          message: expect.stringMatching(new RegExp(`^OCI Vault secret ${missing} could not be read \\(.*not found`)),
        },
        { path: 'providers[1].smtpCredentials.password', message: expect.any(String) },
      ]);
      // A batch fails as a whole on a broken cold start: Connector Hub keeps it.
      await world.client.putMessages({
        queueId: SEND_QUEUE,
        putMessagesDetails: { messages: [{ content: json(message('oci never')) }] },
      });
      expect((await world.connectorHubMove()).response?.status).toBe(502);
    } finally {
      vi.stubEnv('MAILROUTE_CONFIG_OCI_VAULT', '');
      vi.stubEnv('MAILROUTE_CONFIG', json(routingConfig(world.primary, world.busy)));
    }
    expect(copies(world.primary, 'oci never')).toBe(0);
  });

  it('MAILROUTE_STORE_REDIS_URL_SECRET: the Redis URL from Vault is the shared store, so a batch redelivered to another container is not sent again', async () => {
    const redis = await startRedis();
    const urlSecret = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaamailrouteredisurl';
    world.vault.secrets.set(urlSecret, redis.url);
    vi.stubEnv('MAILROUTE_STORE_REDIS_URL_SECRET', urlSecret);
    try {
      const batch = json([{ id: 7001, content: json(message('oci shared redis')), deliveryCount: 1 }]);
      const reads = world.vault.reads.length;
      for (const container of [1, 2]) {
        await world.startFunction();
        const response = await world.invoke(batch);
        expect(response.status, `container ${container}`).toBe(200);
        expect(JSON.parse(response.body)).toMatchObject(container === 1 ? { sent: 1 } : { sent: 0, duplicate: 1 });
      }
      // Each new container read the URL once, with the SMTP password, at its cold start.
      expect(world.vault.reads.slice(reads).filter((id) => id === urlSecret)).toEqual([urlSecret, urlSecret]);
      expect(copies(world.primary, 'oci shared redis')).toBe(1);
      expect(output.join('')).not.toContain(redis.password);
    } finally {
      vi.stubEnv('MAILROUTE_STORE_REDIS_URL_SECRET', '');
      world.stopFunction();
      await redis.stop();
    }
  });
});
