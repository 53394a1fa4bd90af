import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import {
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  type GmailEmulator,
  startGmailEmulator,
} from '../../emulators/gmail/index.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/proxy.ts';
import { redeliverUntilSettled, type SenderOutcome, type SenderRun, spawnSender, waitFor } from '../helpers/sender.ts';
import type { StoreUnderTest } from './stores.ts';

// The four ordinary faults of issue 12, each with real processes (one per "function instance"), a real shared
// store and the SES emulator, counting what SES received. The promise: exactly one delivery, or at most one with
// every caller that was not told "sent" told AMBIGUOUS. Never two; never zero with someone told "sent".

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'app@example.com';
const gmailKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

type Provider = 'ses' | 'acs' | 'gmail';

export function exactlyOnceSuite(start: () => Promise<StoreUnderTest>): void {
  let store: StoreUnderTest;
  let ses: SesEmulator;
  let acs: AcsEmulator;
  let gmail: GmailEmulator;

  beforeAll(async () => {
    [store, ses, acs, gmail] = await Promise.all([
      start(),
      startSesEmulator(),
      startAcsEmulator(),
      startGmailEmulator({
        serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: gmailKey.publicKey }],
        delegatedUsers: [SENDER],
        // The lookup's scope, granted beside gmail.send, as the README asks.
        delegatedScopes: [GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE],
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([store?.stop(), ses?.close(), acs?.close(), gmail?.close()]);
  });

  /** The provider entry of each emulator, the secrets it reads, and what it has taken. */
  function provider(
    kind: Provider,
    subject: string,
  ): {
    entry: Record<string, unknown>;
    env: Record<string, string>;
    received(): number;
    delivered(): Promise<number>;
    hold(latencyMs: number): void;
  } {
    switch (kind) {
      case 'ses':
        return {
          entry: {
            name: 'ses',
            provider: 'ses',
            mode: 'api',
            region: 'eu-west-1',
            endpoint: ses.url,
            credentials: { accessKeyId: { env: 'MR_SES_KEY' }, secretAccessKey: { env: 'MR_SES_SECRET' } },
          },
          env: { MR_SES_KEY: 'AKIDEXAMPLE', MR_SES_SECRET: 'emulator-secret' },
          received: () => ses.received(),
          delivered: async () => (await ses.store()).emails.filter((e) => e.subject === subject).length,
          hold: (latencyMs: number) => ses.faults.add({ latencyMs, pathIncludes: 'outbound-emails' }),
        };
      case 'acs':
        return {
          entry: {
            name: 'acs',
            provider: 'azure',
            mode: 'api',
            connectionString: { env: 'MR_ACS_CONNECTION' },
            pollIntervalMs: 5,
          },
          env: { MR_ACS_CONNECTION: acs.connectionString },
          received: () => acs.received(),
          delivered: async () =>
            acs.store.emails.filter((e) => (e.body.content as { subject?: string }).subject === subject).length,
          hold: (latencyMs: number) => acs.faults.add({ latencyMs, pathIncludes: 'emails:send' }),
        };
      case 'gmail':
        return {
          entry: {
            name: 'gmail',
            provider: 'gmail',
            mode: 'api',
            endpoint: gmail.url,
            serviceAccount: {
              clientEmail: SERVICE_ACCOUNT,
              privateKey: { env: 'MR_GMAIL_KEY' },
              tokenUrl: gmail.tokenUrl,
            },
            user: SENDER,
            lookup: true,
          },
          env: { MR_GMAIL_KEY: gmailKey.privateKey },
          received: () => gmail.received(),
          delivered: async () => gmail.store.filter((m) => m.headers.subject === subject).length,
          hold: (latencyMs: number) => gmail.faults.add({ latencyMs, pathIncludes: '/messages/send' }),
        };
    }
  }

  /** One scenario's world: a fresh store, a unique message, and instances to start. */
  async function world(idempotency: Record<string, number>, kind: Provider = 'ses') {
    const { store: storeConfig, env } = await store.fresh();
    const subject = `exactly-once ${randomUUID()}`;
    const target = provider(kind, subject);
    const config = { providers: [target.entry], idempotency, store: storeConfig };
    const message = { from: SENDER, to: ['user@example.net'], subject, text: 'Once.' };
    const key = `queue-message-${randomUUID()}`;
    const received = target.received();
    return {
      /** A new instance delivering the same queue message. */
      instance: (clockOffsetMs = 0): SenderRun =>
        spawnSender(
          { config, message, options: { idempotencyKey: key } },
          { env: { ...env, ...target.env }, clockOffsetMs },
        ),
      /** Copies the provider accepted. */
      delivered: target.delivered,
      /** Send requests the provider received for this scenario. */
      requests: () => target.received() - received,
      /** The next send request is held this long (received, then answered late, even to a client gone). */
      hold: target.hold,
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

  const sesHasIt = (w: { requests(): number }) => waitFor(() => w.requests() >= 1, 'the provider to have the request');

  it.each([
    ['ACS', 'repeating the request under its Repeatability-Request-Id', 'acs'],
    ['Gmail', 'looking its Message-ID up in Sent mail', 'gmail'],
  ] as const)(
    '%s: a crash mid-send is settled by %s: delivered exactly once, no AMBIGUOUS',
    async (_name, _how, kind) => {
      const w = await world({ inProgressTtlMs: 2_000, clockSkewToleranceMs: 0 }, kind);
      w.hold(1_000);
      const a = w.instance();
      await sesHasIt(w);
      a.kill();
      expect(await a.outcome).toEqual({ ok: false, killed: true });
      await waitFor(async () => (await w.delivered()) === 1, "the crashed instance's request to land");
      const redelivered = await redeliverUntilSettled(() => w.instance());
      expect(redelivered.last).toMatchObject({ ok: true, result: { name: kind, settled: true } });
      for (const outcome of redelivered.outcomes.slice(0, -1))
        expect(outcome).toMatchObject({ error: { code: 'IN_PROGRESS' } });
      // Recorded: the next redelivery is a duplicate, and nothing more reached the provider.
      const requests = w.requests();
      expect(await w.instance().outcome).toMatchObject({ ok: true, result: { duplicate: true } });
      expect(w.requests()).toBe(requests);
      expect(await w.delivered()).toBe(1);
    },
  );

  it('ACS: an answer lost after ACS took the message is settled in the same send by a repeat: sent once, no AMBIGUOUS', async () => {
    const w = await world({ inProgressTtlMs: 10_000 }, 'acs');
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    const first = await w.instance().outcome;
    expect(first).toMatchObject({ ok: true, result: { name: 'acs', settled: true } });
    expect(
      (first as unknown as { result: { attempts: { outcome: string; errorCode?: string }[] } }).result.attempts.map(
        (a) => a.errorCode ?? a.outcome,
      ),
    ).toEqual(['AMBIGUOUS', 'sent']);
    expect(await w.instance().outcome).toMatchObject({ ok: true, result: { duplicate: true } });
    expect(w.requests()).toBe(2);
    expect(await w.delivered()).toBe(1);
  });

  it('a claim whose lease runs out while SES is still answering: the send stops within the lease, never twice', async () => {
    const w = await world({ inProgressTtlMs: 2_000, clockSkewToleranceMs: 0 });
    w.hold(4_000);
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
    w.hold(1_000);
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
    w.hold(1_500);
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
    w.hold(2_500);
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
    w.hold(1_000);
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
    w.hold(1_000);
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
