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
import { type GateProxy, startGateProxy } from '../helpers/gate-proxy.ts';
import { redeliverUntilSettled, type SenderOutcome, type SenderRun, spawnSender, waitFor } from '../helpers/sender.ts';
import type { StoreUnderTest } from './stores.ts';

// The four ordinary faults of issue 12, each with real processes (one per "function instance"), a real shared
// store and the SES emulator, counting what SES received. The promise: exactly one delivery, or at most one with
// every caller that was not told "sent" told AMBIGUOUS. Never two; never zero with someone told "sent".
// Where a scenario needs the provider to hold its answer while something else happens (another instance tries,
// the sender is killed, the store is made to fail), the request is held at a gate in front of the emulator until
// that has happened, never for a fixed time: a loaded machine only makes the scenario slower, never different.
// The leases are long enough for the processes a scenario starts meanwhile (a few seconds on a loaded machine).

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
  /** In front of each emulator's send path: `hold()` keeps the next send request there until `open()`. */
  const gates = {} as Record<Provider, GateProxy>;

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
    [gates.ses, gates.acs, gates.gmail] = await Promise.all([
      startGateProxy(ses.url),
      startGateProxy(acs.url),
      startGateProxy(gmail.url),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled(Object.values(gates).map((gate) => gate.close()));
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
    /** Which request is the send (the one a gate holds). */
    sendPath: string;
  } {
    switch (kind) {
      case 'ses':
        return {
          entry: {
            name: 'ses',
            provider: 'ses',
            mode: 'api',
            region: 'eu-west-1',
            endpoint: gates.ses.url,
            credentials: { accessKeyId: { env: 'MR_SES_KEY' }, secretAccessKey: { env: 'MR_SES_SECRET' } },
          },
          env: { MR_SES_KEY: 'AKIDEXAMPLE', MR_SES_SECRET: 'emulator-secret' },
          received: () => ses.received(),
          delivered: async () => (await ses.store()).emails.filter((e) => e.subject === subject).length,
          sendPath: 'outbound-emails',
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
          env: { MR_ACS_CONNECTION: acs.connectionString.replace(acs.url, gates.acs.url) },
          received: () => acs.received(),
          delivered: async () =>
            acs.store.emails.filter((e) => (e.body.content as { subject?: string }).subject === subject).length,
          sendPath: 'emails:send',
        };
      case 'gmail':
        return {
          entry: {
            name: 'gmail',
            provider: 'gmail',
            mode: 'api',
            endpoint: gates.gmail.url,
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
          sendPath: '/messages/send',
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
    const gate = gates[kind];
    // Nothing armed by an earlier scenario that failed half-way is left to play in this one.
    gate.reset();
    for (const emulator of [ses, acs, gmail]) emulator.faults.clear();
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
      /** The next send request is held at the gate (sent whole by its client, not yet answered) until `release()`. */
      hold: () => gate.hold((req) => req.method === 'POST' && (req.url ?? '').includes(target.sendPath)),
      /**
       * Resolves once the held request is at the gate; fails at once if `sender` finishes first (it never got
       * that far: its outcome and log say why).
       */
      arrived: async (sender: SenderRun) => {
        let finished: unknown;
        sender.outcome.then(
          (outcome) => {
            finished = outcome;
          },
          (error: unknown) => {
            finished = String(error);
          },
        );
        await waitFor(() => {
          if (finished !== undefined) {
            throw new Error(`the sender finished before its request reached the provider: ${JSON.stringify(finished)}
${sender.log()}`);
          }
          return gate.held() >= 1;
        }, 'the provider to have the request');
      },
      /** The provider takes the held request now (it lands even if its client has gone), and answers it. */
      release: () => gate.open(),
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

  it.each([
    ['ACS', 'repeating the request under its Repeatability-Request-Id', 'acs'],
    ['Gmail', 'looking its Message-ID up in Sent mail', 'gmail'],
  ] as const)(
    '%s: a crash mid-send is settled by %s: delivered exactly once, no AMBIGUOUS',
    async (_name, _how, kind) => {
      const w = await world({ inProgressTtlMs: 2_000, clockSkewToleranceMs: 0 }, kind);
      w.hold();
      const a = w.instance();
      await w.arrived(a);
      a.kill();
      expect(await a.outcome).toEqual({ ok: false, killed: true });
      // The provider acts on the request it had, its client gone.
      w.release();
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
    // SES holds its answer until both the holder and the redelivery have given their outcome: the holder's send
    // can only end by its lease.
    w.hold();
    const a = w.instance();
    await w.arrived(a);
    const redelivered = await redeliverUntilSettled(() => w.instance());
    const first = await a.outcome;
    // SES still takes the request it was holding: it lands, once.
    w.release();
    await waitFor(async () => (await w.delivered()) === 1, 'the held request to land', 10_000);
    expect(first).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS', attempt: { name: 'ses' } } });
    expect(redelivered.last).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(w.requests()).toBe(1);
    expectAtMostOnce([first, ...redelivered.outcomes.filter((o) => o.ok || o.error?.code !== 'IN_PROGRESS')], 1);
  });

  it('a crash mid-send (SIGKILL with the request at SES): the redelivery declares it ambiguous once the lease is over', async () => {
    const leaseMs = 2_000;
    const w = await world({ inProgressTtlMs: leaseMs, clockSkewToleranceMs: 0 });
    w.hold();
    const a = w.instance();
    await w.arrived(a);
    a.kill();
    expect(await a.outcome).toEqual({ ok: false, killed: true });
    w.release();
    await waitFor(async () => (await w.delivered()) === 1, "the crashed instance's request to land");
    const redelivered = await redeliverUntilSettled(() => w.instance());
    expect(redelivered.last).toMatchObject({
      ok: false,
      error: { code: 'AMBIGUOUS', retryable: false, attempt: { name: 'ses', provider: 'ses', mode: 'api' } },
    });
    // Settled by the first redelivery after the lease: each one before it was told to come back within the lease
    // (the key is not held any longer), and the queue, waiting as told (at most 1 s at a time), needed no more
    // than a redelivery a second to get past it.
    const early = redelivered.outcomes.slice(0, -1);
    for (const outcome of early) {
      expect(outcome).toMatchObject({ ok: false, error: { code: 'IN_PROGRESS' } });
      expect((outcome as { error: { retryAfterMs?: number } }).error.retryAfterMs).toBeLessThanOrEqual(leaseMs);
    }
    expect(early.length).toBeLessThanOrEqual(Math.ceil(leaseMs / 1_000));
    // The declared outcome is kept: a later redelivery says the same and sends nothing.
    expect(await w.instance().outcome).toMatchObject({ ok: false, error: { code: 'AMBIGUOUS' } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });

  it('a sender whose clock runs 30 s behind holds its claim against a redelivery with the right time', async () => {
    // A 20 s lease: 20 s for the redelivery to come and go while the sender waits on SES (the sender gives up at its
    // lease, by its own timers), and to the redelivery's clock the lease ran out 10 s before it was taken.
    const w = await world({ inProgressTtlMs: 20_000, clockSkewToleranceMs: 60_000 });
    w.hold();
    const a = w.instance(-30_000);
    await w.arrived(a);
    // To this instance the lease ran out 10 s ago; within the skew tolerance it is still the holder's.
    const early = await w.instance().outcome;
    expect(early).toMatchObject({ ok: false, error: { code: 'IN_PROGRESS' } });
    w.release();
    const first = await a.outcome;
    expect(first).toMatchObject({ ok: true, result: { name: 'ses' } });
    const later = await w.instance().outcome;
    expect(later).toMatchObject({ ok: true, result: { duplicate: true } });
    expect(w.requests()).toBe(1);
    expect(await w.delivered()).toBe(1);
  });

  it('a redelivery whose clock runs 30 s ahead (past the tolerance) never sends: it declares ambiguous, the sender records the delivery', async () => {
    // A 12 s lease: to the redelivery it is over, tolerance included, until 13 s after it was taken, and the sender
    // waits on SES for 12 s: the redelivery has 12 s to come and go.
    const w = await world({ inProgressTtlMs: 12_000, clockSkewToleranceMs: 5_000 });
    w.hold();
    const a = w.instance();
    await w.arrived(a);
    const ahead = await w.instance(30_000).outcome;
    w.release();
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
    w.hold();
    const a = w.instance();
    // The attempt is recorded before SES has the request: from here on only the completing write is left.
    await w.arrived(a);
    await store.failCompletions(store.clientAttempts + 1);
    w.release();
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
    w.hold();
    const a = w.instance();
    await w.arrived(a);
    await store.failCompletions(1_000);
    w.release();
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
