import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/proxy.ts';
import { redeliverUntilSettled, type SenderOutcome, type SenderRun, spawnSender, waitFor } from '../helpers/sender.ts';
import type { StoreUnderTest } from './stores.ts';

// The four ordinary faults of issue 12, each with real processes (one per "function instance"), a real shared
// store and the SES emulator, counting what SES received. The promise: exactly one delivery, or at most one with
// every caller that was not told "sent" told AMBIGUOUS. Never two; never zero with someone told "sent".

const SES_ENV = { MR_SES_KEY: 'AKIDEXAMPLE', MR_SES_SECRET: 'emulator-secret' };

export function exactlyOnceSuite(start: () => Promise<StoreUnderTest>): void {
  let store: StoreUnderTest;
  let ses: SesEmulator;

  beforeAll(async () => {
    [store, ses] = await Promise.all([start(), startSesEmulator()]);
  });
  afterAll(async () => {
    await Promise.allSettled([store?.stop(), ses?.close()]);
  });

  /** One scenario's world: a fresh store, a unique message, and instances to start. */
  async function world(idempotency: Record<string, number>) {
    const { store: storeConfig, env } = await store.fresh();
    const subject = `exactly-once ${randomUUID()}`;
    const config = {
      providers: [
        {
          name: 'ses',
          provider: 'ses',
          mode: 'api',
          region: 'eu-west-1',
          endpoint: ses.url,
          credentials: { accessKeyId: { env: 'MR_SES_KEY' }, secretAccessKey: { env: 'MR_SES_SECRET' } },
        },
      ],
      idempotency,
      store: storeConfig,
    };
    const message = { from: 'app@example.com', to: ['user@example.net'], subject, text: 'Once.' };
    const key = `queue-message-${randomUUID()}`;
    const received = ses.received();
    return {
      /** A new instance delivering the same queue message. */
      instance: (clockOffsetMs = 0): SenderRun =>
        spawnSender(
          { config, message, options: { idempotencyKey: key } },
          { env: { ...env, ...SES_ENV }, clockOffsetMs },
        ),
      /** Copies SES accepted. */
      delivered: async () => (await ses.store()).emails.filter((e) => e.subject === subject).length,
      /** SendEmail requests SES received for this scenario. */
      requests: () => ses.received() - received,
    };
  }

  /** The promise, checked over every caller's outcome and what SES holds. */
  function expectAtMostOnce(outcomes: SenderOutcome[], delivered: number): void {
    expect(delivered).toBeLessThanOrEqual(1);
    for (const outcome of outcomes) {
      if (outcome.ok) expect(delivered).toBe(1);
      else if (!outcome.killed) expect(outcome.error.code).toBe('AMBIGUOUS');
    }
  }

  const sesHasIt = (w: { requests(): number }) => waitFor(() => w.requests() >= 1, 'SES to have the request');

  it('a claim whose lease runs out while SES is still answering: the send stops within the lease, never twice', async () => {
    const w = await world({ inProgressTtlMs: 2_000, clockSkewToleranceMs: 0 });
    ses.faults.add({ latencyMs: 4_000, pathIncludes: 'outbound-emails' });
    const a = w.instance();
    await sesHasIt(w);
    const redelivered = await redeliverUntilSettled(() => w.instance());
    const first = await a.outcome;
    // SES still takes the request it was holding: it lands, once.
    await waitFor(async () => (await w.delivered()) === 1, 'the held request to land', 10_000);
    expect(first).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS', attempt: { name: 'ses' } } });
    expect(redelivered.last).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(w.requests()).toBe(1);
    expectAtMostOnce([first, ...redelivered.outcomes.filter((o) => o.ok || o.error?.code !== 'IN_PROGRESS')], 1);
  });

  it('a crash mid-send (SIGKILL with the request at SES): the redelivery declares it ambiguous, within a minute of the lease', async () => {
    const leaseMs = 2_000;
    const w = await world({ inProgressTtlMs: leaseMs, clockSkewToleranceMs: 0 });
    ses.faults.add({ latencyMs: 1_000, pathIncludes: 'outbound-emails' });
    const startedAt = Date.now();
    const a = w.instance();
    await sesHasIt(w);
    a.kill();
    expect(await a.outcome).toEqual({ ok: false, killed: true });
    await waitFor(async () => (await w.delivered()) === 1, "the crashed instance's request to land");
    const redelivered = await redeliverUntilSettled(() => w.instance());
    expect(redelivered.last).toMatchObject({
      ok: false,
      error: { code: 'AMBIGUOUS', retryable: false, attempt: { name: 'ses', provider: 'ses', mode: 'api' } },
    });
    expect(Date.now() - (startedAt + leaseMs)).toBeLessThan(60_000);
    // The declared outcome is kept: a later redelivery says the same and sends nothing.
    expect(await w.instance().outcome).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });

  it('a sender whose clock runs 30 s behind holds its claim against a redelivery with the right time', async () => {
    const w = await world({ inProgressTtlMs: 10_000, clockSkewToleranceMs: 60_000 });
    ses.faults.add({ latencyMs: 1_500, pathIncludes: 'outbound-emails' });
    const a = w.instance(-30_000);
    await sesHasIt(w);
    // To this instance the lease ran out 20 s ago; within the skew tolerance it is still the holder's.
    const early = await w.instance().outcome;
    expect(early).toMatchObject({ ok: false, error: { code: 'IN_PROGRESS' } });
    const first = await a.outcome;
    expect(first).toMatchObject({ ok: true, result: { name: 'ses' } });
    const later = await w.instance().outcome;
    expect(later).toMatchObject({ ok: true, result: { duplicate: true } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });

  it('a redelivery whose clock runs 30 s ahead (past the tolerance) never sends: it declares ambiguous, the sender records the delivery', async () => {
    const w = await world({ inProgressTtlMs: 10_000, clockSkewToleranceMs: 5_000 });
    ses.faults.add({ latencyMs: 2_500, pathIncludes: 'outbound-emails' });
    const a = w.instance();
    await sesHasIt(w);
    const ahead = await w.instance(30_000).outcome;
    const first = await a.outcome;
    expect(first).toMatchObject({ ok: true, result: { name: 'ses' } });
    // The holder's write found the claim taken over, said so, and recorded the delivery over it.
    expect((first as { result: { warnings?: { code: string }[] } }).result.warnings).toEqual([
      expect.objectContaining({ code: 'CLAIM_LOST' }),
    ]);
    expect(ahead).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(await w.instance().outcome).toMatchObject({ ok: true, result: { duplicate: true } });
    expect(w.requests()).toBe(1);
    expectAtMostOnce([first, ahead], await w.delivered());
  });

  it('the store fails the completing write past its client retries: retried, recorded, and the redelivery is a duplicate', async () => {
    const w = await world({ inProgressTtlMs: 30_000, clockSkewToleranceMs: 0 });
    ses.faults.add({ latencyMs: 1_000, pathIncludes: 'outbound-emails' });
    const a = w.instance();
    // The attempt is recorded before SES has the request: from here on only the completing write is left.
    await sesHasIt(w);
    await store.failCompletions(store.clientAttempts + 1);
    await store.refusedOne();
    if (store.clientAttempts === 1) await store.heal(); // Redis: one refusal, then the store is back
    const first = await a.outcome;
    await store.heal();
    expect(first).toMatchObject({ ok: true, result: { name: 'ses' } });
    expect((first as { result: { warnings?: unknown } }).result.warnings).toBeUndefined();
    expect(await w.instance().outcome).toMatchObject({ ok: true, result: { duplicate: true } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });

  it('the store keeps failing after the send: "sent" with a typed warning, and the redelivery never sends again', async () => {
    const w = await world({ inProgressTtlMs: 3_000, clockSkewToleranceMs: 0 });
    ses.faults.add({ latencyMs: 1_000, pathIncludes: 'outbound-emails' });
    const a = w.instance();
    await sesHasIt(w);
    await store.failCompletions(1_000);
    const first = await a.outcome;
    await store.heal();
    expect(first).toMatchObject({ ok: true, result: { name: 'ses' } });
    const { result } = first as unknown as {
      result: { providerMessageId: string; warnings: Record<string, unknown>[] };
    };
    expect(result.warnings).toEqual([
      expect.objectContaining({
        code: 'STATE_NOT_RECORDED',
        name: 'StateNotRecordedError',
        providerMessageId: result.providerMessageId,
      }),
    ]);
    const redelivered = await redeliverUntilSettled(() => w.instance());
    expect(redelivered.last).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });
}

export function describeExactlyOnce(name: string, start: () => Promise<StoreUnderTest>): void {
  describe(`exactly once under ordinary faults, ${name}`, { timeout: 90_000 }, () => exactlyOnceSuite(start));
}
