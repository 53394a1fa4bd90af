import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendResult } from '../../core/contract/adapter.ts';
import type { Mailer } from '../../core/mailer.ts';
import { MemoryStore } from '../../stores/memory.ts';
import type { StateStore } from '../../stores/store.ts';
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

// Random schedules of sends and redeliveries by several instances sharing one store, where a provider may also
// take a message and then: never answer within the sender's lease (the send is cut at the lease), or see its
// sender crash before it records the outcome (its process is gone: it writes nothing more, ever). Then the faults
// clear and the queue redelivers every message until it settles. The promise: never two copies; a caller told
// "sent" means exactly one; every message ends delivered once, declared AMBIGUOUS (at most one copy), or refused.

const KINDS = ['ok', 'outage', 'transient', 'recipient', 'ambiguous', 'hold', 'crash'] as const;
type Kind = (typeof KINDS)[number];

const FAULTS: Record<Kind, Fault | undefined> = {
  ok: undefined,
  outage: { stage: 'greeting', reply: '554 5.3.2 Service not available' },
  transient: { stage: 'mail', reply: '421 4.3.2 Try again later' },
  recipient: { stage: 'rcpt', reply: '550 5.1.1 No such user here' },
  ambiguous: { stage: 'end-of-data', drop: true },
  // Taken, and the reply held past the sender's lease.
  hold: { stage: 'end-of-data', hold: true },
  // Taken normally; the sender is killed the moment the server has it.
  crash: undefined,
};

const LEASE_MS = 1_500;
const COOLDOWN_MS = 200;
const MESSAGES = 2;
const NAMES = ['p1', 'p2'];

const kind: fc.Arbitrary<Kind> = fc.oneof(
  { arbitrary: fc.constant('ok' as const), weight: 6 },
  { arbitrary: fc.constantFrom<Kind>('outage', 'transient', 'recipient', 'ambiguous'), weight: 4 },
  { arbitrary: fc.constantFrom<Kind>('hold', 'crash'), weight: 2 },
);
const scenario = fc.record({
  providers: fc.integer({ min: 1, max: 2 }),
  sends: fc.array(
    fc.record({
      message: fc.nat({ max: MESSAGES - 1 }),
      instance: fc.nat({ max: 2 }),
      faults: fc.array(kind, { minLength: 2, maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

/** A store as one process sees it: after `crash()`, that process never reads or writes it again. */
class ProcessView implements StateStore {
  private crashed = false;
  private readonly shared: StateStore;
  constructor(shared: StateStore) {
    this.shared = shared;
  }
  crash(): void {
    this.crashed = true;
  }
  private gate<T>(call: () => Promise<T>): Promise<T> {
    return this.crashed ? new Promise<T>(() => {}) : call();
  }
  get<T>(key: string) {
    return this.gate(() => this.shared.get<T>(key));
  }
  put<T>(key: string, value: T, options?: { ttlMs?: number }) {
    return this.gate(() => this.shared.put(key, value, options));
  }
  update<T>(key: string, value: T, version: string, options?: { ttlMs?: number }) {
    return this.gate(() => this.shared.update(key, value, version, options));
  }
  delete(key: string, version?: string) {
    return this.gate(() => this.shared.delete(key, version));
  }
}

type Outcome = { ok: true; result: SendResult } | { ok: false; code: string; retryable: boolean } | { crashed: true };

let servers: TestSmtpServer[] = [];
const mailers = new Mailers();
let run = 0;

beforeAll(async () => {
  servers = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  stubSmtpSecrets();
});
afterAll(async () => {
  await mailers.closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

describe('no loss, no duplicate, with crashes and leases that run out', () => {
  it('holds for random schedules', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ providers, sends }) => {
        run++;
        for (const server of servers) resetServer(server);
        const shared = new MemoryStore();
        const entries = servers
          .slice(0, providers)
          .map((s, i) => sesSmtp(NAMES[i]!, s, { pool: { maxConnections: 1, maxMessages: 1 } }));
        const config = {
          ...failoverConfig(entries, {
            health: { failureThreshold: 2, cooldownMs: COOLDOWN_MS },
            retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5, maxThrottleWaitMs: 0 },
          }),
          idempotency: { inProgressTtlMs: LEASE_MS, clockSkewToleranceMs: 0 },
        };
        // Each instance is a process: a crashed one is replaced by a new one on the same shared store.
        const instances: { mailer: Mailer; view: ProcessView }[] = [];
        const instance = (i: number) => {
          if (!instances[i]) {
            const view = new ProcessView(shared);
            instances[i] = { mailer: mailers.create(config, { store: view }), view };
          }
          return instances[i]!;
        };
        const subject = (m: number) => `crash-run${run}-message${m}`;
        const everywhere = (m: number) => servers.reduce((n, s) => n + copies(s, subject(m)), 0);
        const outcomes = new Map<number, Outcome[]>();
        const deliver = async (i: number, m: number, crashOn: Kind[] = []): Promise<Outcome> => {
          const { mailer, view } = instance(i);
          const crashed = new Promise<Outcome>((resolve) => {
            servers.forEach((server, s) => {
              if (crashOn[s] !== 'crash') return;
              // At once, inside the server's callback: the sender is gone before the reply can reach it.
              server.onAccepted = () => {
                view.crash();
                resolve({ crashed: true });
              };
            });
          });
          const sent = mailer.send(mail(subject(m)), { idempotencyKey: subject(m) }).then(
            (result): Outcome => ({ ok: true, result }),
            (error: { code: string; retryable: boolean }): Outcome => ({
              ok: false,
              code: error.code,
              retryable: error.retryable,
            }),
          );
          const outcome = await Promise.race([sent, crashed]);
          if ('crashed' in outcome) delete instances[i];
          outcomes.set(m, [...(outcomes.get(m) ?? []), outcome]);
          return outcome;
        };
        try {
          for (const send of sends) {
            servers.forEach((server, i) => {
              server.fault = FAULTS[send.faults[i] ?? 'ok'];
            });
            await deliver(send.instance, send.message, send.faults);
            for (const server of servers) {
              server.fault = undefined;
              server.onAccepted = undefined;
            }
            for (const m of outcomes.keys()) expect(everywhere(m)).toBeLessThanOrEqual(1);
          }

          // The faults are gone; leases, cool-downs and held replies run out; the queue redelivers each message
          // until it is no longer "in progress" (a queue's visibility timeout).
          await sleep(LEASE_MS + COOLDOWN_MS + 50);
          for (const m of outcomes.keys()) {
            let last: Outcome;
            for (let round = 0; ; round++) {
              last = await deliver(round % 2, m);
              if ('crashed' in last || last.ok || last.code !== 'IN_PROGRESS') break;
              expect(round).toBeLessThan(20);
              await sleep(LEASE_MS / 4);
            }
            const all = outcomes.get(m)!;
            const n = everywhere(m);
            // Never two copies; a caller told "sent" means exactly one.
            expect(n).toBeLessThanOrEqual(1);
            if (all.some((o) => 'ok' in o && o.ok)) expect(n).toBe(1);
            if ('ok' in last && last.ok) {
              expect(n).toBe(1);
            } else if ('code' in last) {
              // Healthy providers: what is left is a declared ambiguity (at most one copy) or a refusal (none).
              expect(['AMBIGUOUS', 'RECIPIENT_REJECTED']).toContain(last.code);
              if (last.code === 'RECIPIENT_REJECTED') expect(n).toBe(0);
              // A declared ambiguity is final: asked again, it says the same and sends nothing.
              const again = await deliver(1, m);
              expect('code' in again && again.code).toBe(last.code);
              expect(everywhere(m)).toBe(n);
            }
          }
        } finally {
          await mailers.closeAll();
        }
      }),
      { numRuns: 15 },
    );
  });
});
