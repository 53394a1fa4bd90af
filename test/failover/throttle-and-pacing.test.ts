import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SendResult } from '../../core/contract/adapter.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import type { Fault, FaultPlan } from '../../emulators/common/faults.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  resetServer,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

let secondary: TestSmtpServer;
let acs: AcsEmulator;
let ses: SesEmulator;
const mailers = new Mailers();

const acsEntry = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  provider: 'azure',
  mode: 'api',
  connectionString: { env: 'MR_FAILOVER_ACS_CS' },
  pollIntervalMs: 5,
  ...extra,
});
const sesEntry = (name: string) => ({
  name,
  provider: 'ses',
  mode: 'api',
  region: 'eu-west-1',
  endpoint: ses.url,
  credentials: { accessKeyId: { env: 'MR_FAILOVER_SES_KEY' }, secretAccessKey: { env: 'MR_FAILOVER_SES_SECRET' } },
});
const acsCopies = (subject: string) =>
  acs.store.emails.filter((e) => (e.body.content as { subject?: string }).subject === subject).length;

/** Each API's throttle answer with `Retry-After: 1`, and how many copies of a subject it stored. */
const APIS = [
  {
    api: 'ACS (429 TooManyRequests)',
    entry: acsEntry,
    throttle: () => acs.faults.add({ status: 429, retryAfter: 1, pathIncludes: 'emails:send' }),
    copies: async (subject: string) => acsCopies(subject),
  },
  {
    api: 'SES (TooManyRequestsException)',
    entry: sesEntry,
    throttle: () => ses.faults.add({ errorCode: 'TooManyRequestsException', retryAfter: 1 }),
    copies: async (subject: string) => (await ses.store()).emails.filter((e) => e.subject === subject).length,
  },
];

beforeAll(async () => {
  [secondary, acs, ses] = await Promise.all([startTestSmtpServer(), startAcsEmulator(), startSesEmulator()]);
  stubSmtpSecrets();
  vi.stubEnv('MR_FAILOVER_ACS_CS', acs.connectionString);
  vi.stubEnv('MR_FAILOVER_SES_KEY', 'AKIDFAILOVERTEST');
  vi.stubEnv('MR_FAILOVER_SES_SECRET', 'failover-test-secret');
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(secondary);
  acs.reset();
  await ses.clear();
});
afterAll(async () => {
  await Promise.all([secondary.close(), acs.close(), ses.close()]);
  vi.unstubAllEnvs();
});

describe.each(APIS)('primary throttled with Retry-After: 1 — $api', ({ entry, throttle, copies: apiCopies }) => {
  it('waits the Retry-After when maxThrottleWaitMs allows it, and delivers once on the primary', async () => {
    throttle();
    const mailer = mailers.create(
      failoverConfig([entry('primary'), ociSmtp('secondary', secondary)], { retry: { maxThrottleWaitMs: 2_000 } }),
    );
    const result = await mailer.send(mail('throttled-wait'), { deadline: Date.now() + 10_000 });
    expect(result.name).toBe('primary');
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'THROTTLED'],
      ['primary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({ retryAfterMs: 1_000 });
    expect(await apiCopies('throttled-wait')).toBe(1);
    expect(secondary.received).toHaveLength(0);
  });

  it('moves to the secondary when the Retry-After is longer than maxThrottleWaitMs', async () => {
    throttle();
    const mailer = mailers.create(
      failoverConfig([entry('primary'), ociSmtp('secondary', secondary)], { retry: { maxThrottleWaitMs: 500 } }),
    );
    const result = await mailer.send(mail('throttled-move'), { deadline: Date.now() + 10_000 });
    expect(result.name).toBe('secondary');
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'THROTTLED'],
      ['secondary', 'sent', undefined],
    ]);
    expect(await apiCopies('throttled-move')).toBe(0);
    expect(copies(secondary, 'throttled-move')).toBe(1);
  });
});

/**
 * Plays ACS's rate limit as a policy rather than a fixed list of faults: a send over `limit` accepted in the
 * trailing `windowMs` gets 429 with a Retry-After too long to wait (so it shows as a THROTTLED attempt).
 */
function enforceRate(plan: FaultPlan, limit: number, windowMs: number) {
  const acceptedAt: number[] = [];
  const counts = { accepted: 0, throttled: 0 };
  const take = plan.take.bind(plan);
  plan.take = (path: string): Fault | undefined => {
    if (!path.includes('emails:send')) return take(path);
    const now = Date.now();
    while (acceptedAt.length && acceptedAt[0]! <= now - windowMs) acceptedAt.shift();
    if (acceptedAt.length >= limit) {
      counts.throttled++;
      return { status: 429, retryAfter: 30 };
    }
    acceptedAt.push(now);
    counts.accepted++;
    return take(path);
  };
  return { counts, restore: () => Object.assign(plan, { take }) };
}

describe('rate limits pace a batch instead of getting it throttled', () => {
  // The limiter spaces sends 100 ms apart (10/s, burst 1): about 4 in any 400 ms. The server takes 8 in 400 ms,
  // so only a batch that was not paced (14 at once) is throttled; the slack absorbs timer and scheduling jitter.
  const RATE = { rateLimits: [{ limit: 10, per: 'second', burst: 1 }] };
  const BATCH = 14;
  const batch = (prefix: string) => Array.from({ length: BATCH }, (_, i) => mail(`${prefix}-${i}`));
  const settle = (sends: Promise<SendResult>[]) => Promise.allSettled(sends);

  it('without rateLimits, the same batch is throttled by the server (the check below has teeth)', async () => {
    const enforcer = enforceRate(acs.faults, 8, 400);
    try {
      const mailer = mailers.create({ providers: [acsEntry('acs')] });
      const outcomes = await settle(batch('unpaced').map((m) => mailer.send(m)));
      const throttled = outcomes.filter((o) => o.status === 'rejected' && o.reason.code === 'THROTTLED');
      expect(enforcer.counts.throttled).toBeGreaterThan(0);
      expect(throttled.length).toBe(enforcer.counts.throttled);
      expect(acs.store.emails).toHaveLength(BATCH - throttled.length);
    } finally {
      enforcer.restore();
    }
  });

  it('one instance: every send of the batch is accepted, none throttled', async () => {
    const enforcer = enforceRate(acs.faults, 8, 400);
    try {
      const mailer = mailers.create({ providers: [acsEntry('acs', RATE)] });
      const results = await Promise.all(batch('paced').map((m) => mailer.send(m)));
      expect(enforcer.counts).toEqual({ accepted: BATCH, throttled: 0 });
      expect(acs.store.emails).toHaveLength(BATCH);
      for (const result of results) expect(steps(result.attempts)).toEqual([['acs', 'sent', undefined]]);
    } finally {
      enforcer.restore();
    }
  });

  it('two instances sharing a store draw from one bucket: the whole batch is accepted, none throttled', async () => {
    const enforcer = enforceRate(acs.faults, 8, 400);
    try {
      const store = new MemoryStore();
      const config = { providers: [acsEntry('acs', RATE)] };
      const instances = [mailers.create(config, { store }), mailers.create(config, { store })];
      const results = await Promise.all(batch('shared').map((m, i) => instances[i % 2]!.send(m)));
      expect(enforcer.counts).toEqual({ accepted: BATCH, throttled: 0 });
      expect(acs.store.emails).toHaveLength(BATCH);
      expect(results.flatMap((r) => steps(r.attempts)).every(([, outcome]) => outcome === 'sent')).toBe(true);
    } finally {
      enforcer.restore();
    }
  });
});
