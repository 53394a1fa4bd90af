import { EmailClient } from '@azure/communication-email';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AttemptRecord } from '../../core/contract/adapter.ts';
import { AmbiguousDeliveryError, IdempotencyConflictError, TransientError } from '../../core/errors.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import { AzureApiAdapter, type AzureApiAdapterOptions } from '../../providers/azure/api.ts';
import { operationIdFor } from '../../providers/azure/api-message.ts';
import type { AzureConfig } from '../../providers/azure/config.ts';
import { failoverConfig, Mailers, steps } from '../helpers/failover.ts';

// ACS repeatable requests (Repeatability-Request-Id + Repeatability-First-Sent, tracked 5 minutes): a retry
// or a settlement of a send that may have reached ACS never sends a second email.

let acs: AcsEmulator;
const env: Record<string, string> = {};
const mailers = new Mailers();

const config = (over: Partial<AzureConfig> = {}): AzureConfig => ({
  name: 'acs',
  provider: 'azure',
  mode: 'api',
  connectionString: { env: 'MR_TEST_ACS_REPEAT_CS' },
  pollIntervalMs: 5,
  ...over,
});
/** A new adapter is a new process: it remembers nothing of earlier attempts. */
const adapter = (options: AzureApiAdapterOptions = {}, over: Partial<AzureConfig> = {}) =>
  new AzureApiAdapter(config(over), { env, ...options });
const plain = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };
const prepare = (key: string | undefined, input: Record<string, unknown> = plain) =>
  composeMessage(normalizeMessage(key === undefined ? input : { ...input, idempotencyKey: key }));
const attemptAt = (firstSentAt: number, token?: string): AttemptRecord => ({
  name: 'acs',
  provider: 'azure',
  mode: 'api',
  startedAt: firstSentAt,
  firstSentAt,
  ...(token ? { token } : {}),
});
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const imf = (ms: number) => new Date(ms).toUTCString();

/** Every request the SDK sends, after the adapter's policies (perRetry runs after perCall). */
function recorder() {
  const seen: { method: string; path: string; headers: Record<string, string> }[] = [];
  const clientOptions = {
    additionalPolicies: [
      {
        position: 'perRetry' as const,
        policy: {
          name: 'test-recorder',
          sendRequest: (
            request: { method: string; url: string; headers: { toJSON(): Record<string, string> } },
            next: (r: never) => Promise<unknown>,
          ) => {
            seen.push({
              method: request.method,
              path: new URL(request.url).pathname,
              headers: request.headers.toJSON(),
            });
            return next(request as never);
          },
        },
      },
    ],
  } as AzureApiAdapterOptions['clientOptions'];
  return { seen, clientOptions };
}

beforeAll(async () => {
  acs = await startAcsEmulator({ runningPolls: 1 });
  env.MR_TEST_ACS_REPEAT_CS = acs.connectionString;
  vi.stubEnv('MR_TEST_ACS_REPEAT_CS', acs.connectionString);
});
afterAll(() => acs.close());
beforeEach(() => acs.reset());
afterEach(() => mailers.closeAll());

describe('ACS API mode: repeatable requests', () => {
  it('sends Repeatability-Request-Id (from the key) and Repeatability-First-Sent (the first attempt) on the POST only', async () => {
    const { seen, clientOptions } = recorder();
    const sender = adapter({ clientOptions }, { waitForCompletion: true });
    const prepared = await prepare('order-1');
    const firstSentAt = Date.now() - 60_000;
    await sender.send(prepared, { firstSentAt });

    const token = sender.idempotencyToken(prepared);
    expect(token).toMatch(uuid);
    expect(token).not.toBe(operationIdFor(prepared.message));
    expect(adapter().idempotencyToken(await prepare('order-1'))).toBe(token);
    expect(adapter().idempotencyToken(await prepare('order-2'))).not.toBe(token);
    const posts = seen.filter((r) => r.method === 'POST');
    expect(
      posts.map((r) => [r.path, r.headers['repeatability-request-id'], r.headers['repeatability-first-sent']]),
    ).toEqual([['/emails:send', token, imf(firstSentAt)]]);
    const gets = seen.filter((r) => r.method === 'GET');
    expect(gets.length).toBeGreaterThan(0);
    for (const get of gets) expect(Object.keys(get.headers).filter((h) => h.startsWith('repeatability'))).toEqual([]);
    // The header that names the call to the policy (polls after the call included) never leaves the process.
    for (const request of seen) expect(Object.keys(request.headers)).not.toContain('x-mailroute-call');
    expect(acs.store.emails[0]?.headers).not.toHaveProperty('x-mailroute-call');
    expect(acs.store.emails[0]?.headers['repeatability-request-id']).toBe(token);
    expect(acs.store.emails[0]?.headers['operation-id']).toBe(operationIdFor(prepared.message));
  });

  it('uses the time of the send when no first attempt is known, and sends no repeatability headers without a key', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    await adapter().send(await prepare('order-3'), {});
    const after = Date.now();
    const sentAt = Date.parse(String(acs.store.emails[0]?.headers['repeatability-first-sent']));
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(sentAt).toBeLessThanOrEqual(after);
    expect(adapter().idempotencyToken(await prepare(undefined))).toBeUndefined();
    await adapter().send(await prepare(undefined), {});
    expect(acs.store.emails[1]?.headers['repeatability-request-id']).toBeUndefined();
    expect(acs.store.emails[1]?.headers['repeatability-first-sent']).toBeUndefined();
  });

  it('repeats a request whose answer was lost (no SDK retry): the original operation, one email', async () => {
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    const sender = adapter();
    const dropped = await sender.send(await prepare('order-4'), {}).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(AmbiguousDeliveryError);
    expect(acs.received()).toBe(1);
    expect(acs.store.emails).toHaveLength(1);
    // Sent again seconds later by the same adapter, no first-sent given: it must repeat the first attempt's.
    vi.setSystemTime(Date.now() + 3_000);
    const retried = await sender.send(await prepare('order-4'), {}).finally(() => vi.useRealTimers());
    expect(retried.providerMessageId).toBe(acs.store.emails[0]?.operationId);
    expect(acs.received()).toBe(2);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('delivers once through a Mailer whose first POST loses its answer: settled at once, with no AMBIGUOUS', async () => {
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    const mailer = mailers.create(
      failoverConfig([
        {
          name: 'acs',
          provider: 'azure',
          mode: 'api',
          connectionString: { env: 'MR_TEST_ACS_REPEAT_CS' },
          pollIntervalMs: 5,
        },
      ]),
    );
    const result = await mailer.send({ ...plain, subject: 'Invoice 9' }, { idempotencyKey: 'queue-message-9' });
    expect(steps(result.attempts)).toEqual([
      ['acs', 'failed', 'AMBIGUOUS'],
      ['acs', 'sent', undefined],
    ]);
    expect(result.settled).toBe(true);
    expect(result.attempts?.at(-1)?.reason).toMatch(/^settled: /);
    expect(result.providerMessageId).toBe(acs.store.emails[0]?.operationId);
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.received()).toBe(2);
    // The redelivery of the queue message is answered from the idempotency record.
    const again = await mailer.send({ ...plain, subject: 'Invoice 9' }, { idempotencyKey: 'queue-message-9' });
    expect(again.duplicate).toBe(true);
    expect(acs.received()).toBe(2);
  });

  it('adds the policy to a client of your own, once however many adapters share it', async () => {
    const own = new EmailClient(acs.connectionString, {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    });
    const prepared = await prepare('order-5');
    await adapter({ client: own }).send(prepared, {});
    await adapter({ client: own }).send(prepared, {});
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.store.emails[0]?.headers['repeatability-request-id']).toBe(adapter().idempotencyToken(prepared));
  });

  it('is ambiguous on 409 (the first request is still in progress) and on 412 (first sent too long ago)', async () => {
    acs.faults.add({ latencyMs: 400, pathIncludes: 'emails:send' });
    const firstSentAt = Date.now();
    const first = adapter().send(await prepare('order-6'), { firstSentAt });
    await vi.waitFor(() => expect(acs.received()).toBe(1));
    const during = await adapter()
      .send(await prepare('order-6'), { firstSentAt })
      .catch((e: unknown) => e);
    expect(during).toBeInstanceOf(AmbiguousDeliveryError);
    expect((during as Error).message).toMatch(/still processing the first request/);
    expect((await first).providerMessageId).toBe(acs.store.emails[0]?.operationId);

    const stale = await adapter()
      .send(await prepare('order-7'), { firstSentAt: Date.now() - 6 * 60_000 })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(AmbiguousDeliveryError);
    expect((stale as Error).message).toMatch(/no longer tracks/);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('refuses the same key with another message inside the window as an idempotency conflict', async () => {
    const sender = adapter();
    await sender.send(await prepare('order-8'), {});
    const other = await sender.send(await prepare('order-8', { ...plain, text: 'Other' }), {}).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(IdempotencyConflictError);
    expect(other).toMatchObject({ idempotencyKey: 'order-8', provider: 'azure' });
    expect(acs.store.emails).toHaveLength(1);
  });
});

describe('ACS API mode: settle()', () => {
  it('inside the window, repeats the request: the original operation, nothing new sent', async () => {
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    const prepared = await prepare('settle-1');
    const firstSentAt = Date.now() - 1_000;
    await expect(adapter().send(prepared, { firstSentAt })).rejects.toBeInstanceOf(AmbiguousDeliveryError);
    const operationId = acs.store.emails[0]?.operationId;

    const settled = await adapter().settle(prepared, attemptAt(firstSentAt, adapter().idempotencyToken(prepared)), {});
    expect(settled).toMatchObject({ status: 'delivered', sent: { providerMessageId: operationId } });
    expect(acs.received()).toBe(2);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('inside the window, sends the message once when the first attempt never reached ACS', async () => {
    const prepared = await prepare('settle-2');
    const attempt = attemptAt(Date.now() - 2_000);
    const settled = await adapter().settle(prepared, attempt, {});
    const again = await adapter().settle(prepared, attempt, {});
    const operationId = operationIdFor(prepared.message);
    expect(settled).toMatchObject({ status: 'delivered', sent: { providerMessageId: operationId } });
    expect(again).toMatchObject({ status: 'delivered', sent: { providerMessageId: operationId } });
    expect(acs.store.emails).toHaveLength(1);
  });

  it('answers in-progress while the first request is still being processed', async () => {
    acs.faults.add({ latencyMs: 400, pathIncludes: 'emails:send' });
    const prepared = await prepare('settle-3');
    const firstSentAt = Date.now();
    const first = adapter().send(prepared, { firstSentAt });
    await vi.waitFor(() => expect(acs.received()).toBe(1));
    const during = await adapter().settle(prepared, attemptAt(firstSentAt), {});
    expect(during).toMatchObject({ status: 'in-progress', reason: expect.stringMatching(/409/) });
    const sent = await first;
    const after = await adapter().settle(prepared, attemptAt(firstSentAt), {});
    expect(after).toMatchObject({ status: 'delivered', sent: { providerMessageId: sent.providerMessageId } });
    expect(acs.store.emails).toHaveLength(1);
  });

  it('finds the email a sender gave up on (its deadline passed while ACS was still working)', async () => {
    acs.faults.add({ latencyMs: 300, pathIncludes: 'emails:send' });
    const prepared = await prepare('settle-4');
    const firstSentAt = Date.now();
    const gaveUp = await adapter()
      .send(prepared, { firstSentAt, deadline: Date.now() + 100 })
      .catch((e: unknown) => e);
    expect(gaveUp).toBeInstanceOf(AmbiguousDeliveryError);
    await vi.waitFor(() => expect(acs.store.emails).toHaveLength(1));
    const settled = await adapter().settle(prepared, attemptAt(firstSentAt), {});
    expect(settled).toMatchObject({
      status: 'delivered',
      sent: { providerMessageId: acs.store.emails[0]?.operationId },
    });
    expect(acs.store.emails).toHaveLength(1);
  });

  it('outside the window, reads the operation: delivered when it exists, not-delivered on 404 or Failed', async () => {
    const sent = await prepare('settle-5');
    await adapter().send(sent, {});
    const received = acs.received();
    const old = attemptAt(Date.now() - 10 * 60_000);
    const found = await adapter().settle(sent, old, {});
    expect(found).toMatchObject({
      status: 'delivered',
      sent: { providerMessageId: operationIdFor(sent.message), details: { operationId: operationIdFor(sent.message) } },
    });
    expect(acs.received()).toBe(received);

    const missing = await adapter().settle(await prepare('settle-6'), old, {});
    expect(missing).toMatchObject({ status: 'not-delivered', reason: expect.stringMatching(/no operation/) });

    acs.outcomes.add({ status: 'Failed' });
    const failed = await prepare('settle-7');
    await adapter().send(failed, {});
    const dropped = await adapter().settle(failed, old, {});
    expect(dropped).toMatchObject({ status: 'not-delivered', reason: expect.stringMatching(/Failed \(EmailDropped/) });
    expect(acs.store.emails).toHaveLength(2);
  });

  it('falls back to the operation when ACS answers 412 inside the adapter window (its window or clock differ)', async () => {
    const short = await startAcsEmulator({ repeatabilityWindowMs: 2_000 });
    env.MR_TEST_ACS_SHORT_CS = short.connectionString;
    try {
      const sender = () => adapter({}, { connectionString: { env: 'MR_TEST_ACS_SHORT_CS' } });
      const prepared = await prepare('settle-8');
      await sender().send(prepared, {});
      const attempt = attemptAt(Date.now() - 5_000);
      expect(await sender().settle(prepared, attempt, {})).toMatchObject({
        status: 'delivered',
        sent: { providerMessageId: operationIdFor(prepared.message) },
      });
      expect(await sender().settle(await prepare('settle-9'), attempt, {})).toMatchObject({ status: 'not-delivered' });
      // Both settlements POSTed (and were refused 412) before reading the operation.
      expect(short.received()).toBe(3);
      expect(short.store.emails).toHaveLength(1);
    } finally {
      await short.close();
    }
  });

  it('honours a configured window: a shorter one reads the operation sooner', async () => {
    const prepared = await prepare('settle-10');
    await adapter().send(prepared, {});
    const received = acs.received();
    const quick = adapter({ repeatability: { windowMs: 2_000, safetyMarginMs: 500 } });
    const settled = await quick.settle(prepared, attemptAt(Date.now() - 1_600), {});
    expect(settled.status).toBe('delivered');
    expect(acs.received()).toBe(received);
  });

  it('throws when ACS cannot be asked, and cannot settle a message without a key', async () => {
    acs.faults.add({ status: 503, pathIncludes: 'emails:send' });
    const prepared = await prepare('settle-11');
    await expect(adapter().settle(prepared, attemptAt(Date.now()), {})).rejects.toBeInstanceOf(TransientError);
    expect(await adapter().settle(await prepare(undefined), attemptAt(Date.now()), {})).toMatchObject({
      status: 'unknown',
      reason: expect.stringMatching(/no idempotency key/),
    });
    expect(acs.store.emails).toHaveLength(0);
  });
});
