import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendResult } from '../../core/contract/adapter.ts';
import { type Attempt, isMailrouteError, type MailrouteError } from '../../core/errors.ts';
import { MemoryStore } from '../../stores/memory.ts';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  resetServer,
  sesSmtp,
  sleep,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { type Fault, startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// For random fault schedules over 2-3 SMTP providers and random redeliveries of the same messages (to two
// instances sharing one store), no message is lost and none is delivered twice: each ends delivered (exactly one
// copy across every server), failed permanently with a reason, or left for retry (and then delivered once when
// the servers are back). The only extra copies allowed are after an ambiguous drop on a route that accepts
// duplicates.

/** What one provider does with one send: the test server's fault for it. */
const KINDS = ['ok', 'outage', 'transient', 'throttled', 'recipient', 'content', 'ambiguous'] as const;
type Kind = (typeof KINDS)[number];

const FAULTS: Record<Kind, Fault | undefined> = {
  ok: undefined,
  outage: { stage: 'greeting', reply: '554 5.3.2 Service not available' },
  transient: { stage: 'mail', reply: '421 4.3.2 Try again later' },
  // SES's reading: a 1 s throttle; with maxThrottleWaitMs 0 the router moves on at once.
  throttled: { stage: 'mail', reply: '454 Throttling failure: Maximum sending rate exceeded.' },
  recipient: { stage: 'rcpt', reply: '550 5.1.1 No such user here' },
  content: { stage: 'end-of-data', reply: '554 5.7.1 Message rejected as spam' },
  ambiguous: { stage: 'end-of-data', drop: true },
};

/** The error class each fault must surface as, when that provider is tried. */
const CODE: Record<Kind, string | undefined> = {
  ok: undefined,
  outage: 'PROVIDER_UNAVAILABLE',
  transient: 'TRANSIENT',
  throttled: 'THROTTLED',
  recipient: 'RECIPIENT_REJECTED',
  content: 'CONTENT_REJECTED',
  ambiguous: 'AMBIGUOUS',
};
const STOPS = new Set(['RECIPIENT_REJECTED', 'CONTENT_REJECTED']);
const PERMANENT = new Set(['RECIPIENT_REJECTED', 'CONTENT_REJECTED', 'AMBIGUOUS', 'ALL_PROVIDERS_FAILED']);

// Longer than a send, so later sends of a run meet providers marked down or with an open circuit.
const COOLDOWN_MS = 250;
// SES's 454 throttle reads as "retry after 1 s": a throttled provider is marked down that long, not the cool-down.
const THROTTLE_DOWN_MS = 1_000;
const MESSAGES = 3;

const kind: fc.Arbitrary<Kind> = fc.oneof(
  { arbitrary: fc.constant('ok' as const), weight: 5 },
  { arbitrary: fc.constantFrom(...KINDS.filter((k) => k !== 'ok')), weight: 6 },
);
const scenario = fc.integer({ min: 2, max: 3 }).chain((providers) =>
  fc.record({
    providers: fc.constant(providers),
    allowDuplicates: fc.boolean(),
    sends: fc.array(
      fc.record({
        message: fc.nat({ max: MESSAGES - 1 }),
        instance: fc.nat({ max: 1 }),
        faults: fc.array(kind, { minLength: providers, maxLength: providers }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
  }),
);

type Outcome = { ok: true; result: SendResult } | { ok: false; error: MailrouteError };

interface Delivery {
  kinds: Kind[];
  outcome: Outcome;
  /** Data transactions that were cut after the final dot: copies that may have been delivered. */
  ambiguousDrops: number;
}

let servers: TestSmtpServer[] = [];
const mailers = new Mailers();

beforeAll(async () => {
  servers = await Promise.all([startTestSmtpServer(), startTestSmtpServer(), startTestSmtpServer()]);
  stubSmtpSecrets();
});
afterAll(async () => {
  await mailers.closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

const NAMES = ['p1', 'p2', 'p3'];
/**
 * One connection per message, so a greeting fault strikes every send it is armed for. (smtp-server waits 100 ms
 * for early talkers on each connection: that, not the router, is most of this test's time.)
 */
const entries = () => servers.map((s, i) => sesSmtp(NAMES[i]!, s, { pool: { maxConnections: 1, maxMessages: 1 } }));

function attemptsOf(outcome: Outcome): Attempt[] {
  return (outcome.ok ? outcome.result.attempts : outcome.error.attempts) ?? [];
}

/** Checks one send's attempts against the faults armed for it and the route's rules. */
function checkAttempts(delivery: Delivery, allowDuplicates: boolean): void {
  // A duplicate carries the recorded result of the send that delivered it, attempts included.
  if (delivery.outcome.ok && delivery.outcome.result.duplicate) return;
  const attempts = attemptsOf(delivery.outcome);
  attempts.forEach((attempt, i) => {
    const k = delivery.kinds[NAMES.indexOf(attempt.name)]!;
    if (attempt.outcome === 'failed') expect(attempt.errorCode).toBe(CODE[k]);
    if (attempt.outcome === 'sent') expect(k).toBe('ok');
    // A rejection of the message ends the send; so does an ambiguous failure unless duplicates are accepted.
    const stops = STOPS.has(attempt.errorCode ?? '') || (attempt.errorCode === 'AMBIGUOUS' && !allowDuplicates);
    if (stops) expect(i).toBe(attempts.length - 1);
  });
  if (delivery.outcome.ok) {
    expect(attempts.filter((a) => a.outcome === 'sent')).toHaveLength(1);
    expect(attempts.at(-1)).toMatchObject({ name: delivery.outcome.result.name, outcome: 'sent' });
  } else {
    const { error } = delivery.outcome;
    expect(isMailrouteError(error)).toBe(true);
    expect(error.message.length).toBeGreaterThan(0);
    expect(typeof error.retryable).toBe('boolean');
  }
}

let run = 0;

describe('no loss, no duplicate', () => {
  it('holds for random fault schedules and redeliveries', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ providers, allowDuplicates, sends }) => {
        run++;
        for (const server of servers) resetServer(server);
        const store = new MemoryStore();
        const config = failoverConfig(entries().slice(0, providers), {
          allowDuplicates,
          health: { failureThreshold: 2, cooldownMs: COOLDOWN_MS },
          retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5, maxThrottleWaitMs: 0 },
        });
        const instances = [mailers.create(config, { store }), mailers.create(config, { store })];
        const subject = (m: number) => `run${run}-message${m}`;
        const deliver = (instance: number, m: number) =>
          instances[instance]!.send(mail(subject(m)), {
            idempotencyKey: subject(m),
            deadline: Date.now() + 10_000,
          }).then(
            (result): Outcome => ({ ok: true, result }),
            (error: unknown): Outcome => ({ ok: false, error: error as MailrouteError }),
          );
        const everywhere = (m: number) => servers.reduce((n, s) => n + copies(s, subject(m)), 0);
        try {
          const history = new Map<number, Delivery[]>();
          for (const send of sends) {
            const kinds = send.faults;
            servers.forEach((server, i) => {
              server.fault = FAULTS[kinds[i] ?? 'ok'];
            });
            const before = servers.map((s) => s.dataTransactions - s.received.length);
            const outcome = await deliver(send.instance, send.message);
            for (const server of servers) server.fault = undefined;
            const ambiguousDrops = servers.reduce(
              (n, s, i) => n + (kinds[i] === 'ambiguous' ? s.dataTransactions - s.received.length - before[i]! : 0),
              0,
            );
            const delivery = { kinds, outcome, ambiguousDrops };
            checkAttempts(delivery, allowDuplicates);
            history.set(send.message, [...(history.get(send.message) ?? []), delivery]);
          }

          // Every message ends in exactly one of three states; the queue then redelivers what it should.
          const leftForRetry: number[] = [];
          for (const [m, deliveries] of history) {
            const drops = deliveries.reduce((n, d) => n + d.ambiguousDrops, 0);
            const firstSent = deliveries.findIndex((d) => d.outcome.ok && !d.outcome.result.duplicate);
            const firstAmbiguous = deliveries.findIndex((d) => !d.outcome.ok && d.outcome.error.code === 'AMBIGUOUS');
            const last = deliveries.at(-1)!.outcome;
            // Never two copies taken by servers, whatever happened; an ambiguous one only where duplicates are fine.
            expect(everywhere(m)).toBeLessThanOrEqual(1);
            if (!allowDuplicates) expect(everywhere(m) + drops).toBeLessThanOrEqual(1);

            if (firstSent !== -1) {
              // Delivered: exactly one copy; every later delivery is a duplicate carrying the first result.
              const first = (deliveries[firstSent]!.outcome as { result: SendResult }).result;
              for (const later of deliveries.slice(firstSent + 1)) {
                expect(later.outcome.ok && later.outcome.result.duplicate).toBe(true);
                expect((later.outcome as { result: SendResult }).result.messageId).toBe(first.messageId);
                expect(later.ambiguousDrops).toBe(0);
              }
              expect(everywhere(m)).toBe(1);
              expect(copies(servers[NAMES.indexOf(first.name)]!, subject(m))).toBe(1);
              const again = await deliver(0, m);
              expect(again.ok && again.result.duplicate).toBe(true);
            } else if (!last.ok && !last.error.retryable) {
              // Failed permanently, with a reason: a rejection, or an ambiguous failure never sent again.
              expect(PERMANENT.has(last.error.code)).toBe(true);
              if (last.error.code === 'ALL_PROVIDERS_FAILED') {
                // Only every provider failing ambiguously, on a route that fails over after it, ends this way.
                expect(allowDuplicates).toBe(true);
                const failed = attemptsOf(last).filter((a) => a.outcome === 'failed');
                expect(failed.every((a) => a.errorCode === 'AMBIGUOUS')).toBe(true);
              }
              expect(everywhere(m)).toBe(0);
              if (!allowDuplicates && firstAmbiguous !== -1) {
                // Marked ambiguous: the redelivery is refused and nothing reaches a server.
                expect(last.error.code).toBe('AMBIGUOUS');
                const data = servers.map((s) => s.dataTransactions);
                const again = await deliver(1, m);
                expect(!again.ok && again.error.code).toBe('AMBIGUOUS');
                expect(servers.map((s) => s.dataTransactions)).toEqual(data);
              }
            } else {
              // Left for retry: not delivered, and (unless duplicates are accepted) nothing possibly delivered.
              expect(last.ok).toBe(false);
              expect(everywhere(m)).toBe(0);
              if (!allowDuplicates) expect(drops).toBe(0);
              leftForRetry.push(m);
            }
          }
          // The servers are back and the cool-downs (and throttle pauses) over: each message left for retry is
          // delivered, once.
          const throttled = sends.some((send) => send.faults.includes('throttled'));
          if (leftForRetry.length)
            await sleep((throttled ? Math.max(COOLDOWN_MS, THROTTLE_DOWN_MS) : COOLDOWN_MS) + 20);
          for (const m of leftForRetry) {
            const again = await deliver(1, m);
            expect(again.ok && !again.result.duplicate).toBe(true);
            expect(everywhere(m)).toBe(1);
          }
        } finally {
          await mailers.closeAll();
        }
      }),
      { numRuns: 25 },
    );
  });
});
