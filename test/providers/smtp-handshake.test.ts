import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import {
  AmbiguousDeliveryError,
  type MailrouteError,
  ProviderUnavailableError,
  TransientError,
} from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { type BlackHole, startBlackHole } from '../helpers/black-hole.ts';
import { copies, failoverConfig, Mailers, mail, ociSmtp, steps, stubSmtpSecrets } from '../helpers/failover.ts';
import { mailerFor, smtpAt } from '../helpers/mailer.ts';
import { plainMessage } from '../helpers/messages.ts';
import { type Fault, startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// The session set-up (connect, greeting, EHLO, STARTTLS, AUTH) has a bound of its own, smtp.handshakeTimeoutMs:
// a server that does not finish it has received nothing, so the send fails at once as not handed over
// (ProviderUnavailableError: failover, never AMBIGUOUS). Only after the final dot may silence be ambiguous.
// Which bound ended a send (the handshake timeout, the deadline, nodemailer's own 10 s timeouts) shows in the
// error's class and words, never in how long it took: a loaded machine is slow, not different. The lower bounds
// on elapsed time (a bound did not cut the send short) hold on any machine.

const HANDSHAKE_MS = 300;
/** The words of a send ended by the handshake timeout (HandshakeTimeoutError's). */
const ENDED_BY_HANDSHAKE_TIMEOUT = new RegExp(`no SMTP session within ${HANDSHAKE_MS} ms`);

let server: TestSmtpServer;
let blackHole: BlackHole;
const mailers: Mailer[] = [];
const failovers = new Mailers();

beforeAll(async () => {
  vi.stubEnv('HS_SMTP_USER', 'hs-user');
  vi.stubEnv('HS_SMTP_PASS', 'hs-pass');
  stubSmtpSecrets();
  [server, blackHole] = await Promise.all([startTestSmtpServer(), startBlackHole()]);
});
afterEach(async () => {
  await Promise.all(mailers.splice(0).map((m) => m.close()));
  await failovers.closeAll();
  server.fault = undefined;
  server.acceptDelayMs = 0;
  server.received.length = 0;
  server.auths.length = 0;
  server.dataTransactions = 0;
});
afterAll(async () => {
  await Promise.all([server.close(), blackHole.close()]);
  vi.unstubAllEnvs();
});

const credentials = { username: { env: 'HS_SMTP_USER' }, password: { env: 'HS_SMTP_PASS' } };

function open(target: { host: string; port: number }, smtp: Record<string, unknown> = {}): Mailer {
  const entry = { provider: 'oci', mode: 'smtp', region: 'eu-frankfurt-1', smtpCredentials: credentials };
  const mailer = mailerFor({
    ...entry,
    smtp: smtpAt(target as TestSmtpServer, { handshakeTimeoutMs: HANDSHAKE_MS, ...smtp }),
  });
  mailers.push(mailer);
  return mailer;
}

/** One send through the adapter alone (no router), under a deadline; the error it failed with, and when. */
async function attempt(mailer: Mailer, deadlineMs = 10_000): Promise<{ error: MailrouteError; ms: number }> {
  const prepared = await composeMessage(normalizeMessage(plainMessage()));
  // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
  const started = performance.now();
  const error = await (await mailer.adapter()).send(prepared, { deadline: Date.now() + deadlineMs }).then(
    () => undefined,
    (e: unknown) => e as MailrouteError,
  );
  if (!error) throw new Error('the send succeeded');
  return { error, ms: performance.now() - started };
}

describe('a server that never finishes the handshake: not handed over, failed over at once', () => {
  it.each<{ what: string; fault?: Fault; secure?: boolean }>([
    { what: 'accepts TCP and never greets (black hole)' },
    { what: 'accepts TCP and never starts TLS (black hole, implicit TLS)', secure: true },
    { what: 'never answers EHLO', fault: { stage: 'ehlo', silent: true } },
    { what: 'never answers STARTTLS', fault: { stage: 'starttls', silent: true } },
    { what: 'answers STARTTLS and never completes TLS', fault: { stage: 'tls', silent: true } },
    { what: 'never answers AUTH', fault: { stage: 'auth', silent: true } },
  ])('$what → ProviderUnavailableError within about the handshake timeout', async ({ fault, secure }) => {
    const target = fault ? server : blackHole;
    server.fault = fault;
    const { error, ms } = await attempt(open(target, secure ? { secure: true } : {}));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ failover: true, retryable: true, provider: 'oci', mode: 'smtp' });
    expect(error.message).toMatch(/nothing was handed over/);
    expect(error.message).toMatch(ENDED_BY_HANDSHAKE_TIMEOUT);
    expect(ms).toBeGreaterThanOrEqual(HANDSHAKE_MS - 20);
    expect(server.dataTransactions).toBe(0);
    expect(server.received).toEqual([]);
  });

  it("a stall under nodemailer's own shorter greeting timeout is the same: unavailable, not transient", async () => {
    server.fault = { stage: 'greeting', silent: true };
    const { error } = await attempt(open(server, { greetingTimeoutMs: 100, handshakeTimeoutMs: 5_000 }));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
  });

  it('a deadline shorter than the handshake ends it as transient: the caller ran out of time, not the provider', async () => {
    server.fault = { stage: 'greeting', silent: true };
    const { error } = await attempt(open(server, { handshakeTimeoutMs: 5_000 }), 300);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/the deadline passed before/);
  });

  it('verify is bounded by the handshake timeout the same way', async () => {
    const [report] = await open(blackHole).verify();
    expect(report).toMatchObject({ ok: false, error: { name: 'ProviderUnavailableError' } });
  });
});

describe('once the session is up, the handshake bound no longer applies', () => {
  // A bound a loaded machine sets a loopback session up well within, and well under the deadlines below.
  const SESSION_MS = 500;

  it.each<Fault>([
    { stage: 'mail', silent: true },
    { stage: 'rcpt', silent: true },
    { stage: 'data', silent: true },
  ])('silence at $stage (before the final dot) is transient at the deadline, never ambiguous', async (fault) => {
    server.fault = fault;
    const { error, ms } = await attempt(open(server, { handshakeTimeoutMs: SESSION_MS }), 1_500);
    expect(error).toBeInstanceOf(TransientError);
    expect(ms).toBeGreaterThanOrEqual(1_400);
    expect(server.received).toEqual([]);
  });

  it('silence after the final dot is ambiguous, even long after the handshake bound', async () => {
    server.fault = { stage: 'end-of-data', silent: true };
    const { error, ms } = await attempt(open(server, { handshakeTimeoutMs: SESSION_MS }), 1_500);
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(ms).toBeGreaterThanOrEqual(1_400);
    expect(server.dataTransactions).toBe(1);
  });

  it('a send waiting for a busy pool is not cut by the handshake bound', async () => {
    // One connection, each send held 250 ms by the server: the fourth waits about 750 ms, past the 500 ms bound.
    server.acceptDelayMs = 250;
    const mailer = open(server, { handshakeTimeoutMs: SESSION_MS, pool: { maxConnections: 1 } });
    const subjects = ['q1', 'q2', 'q3', 'q4'];
    const results = await Promise.all(subjects.map((s) => mailer.send(mail(s), { deadline: Date.now() + 10_000 })));
    expect(results.map((r) => r.provider)).toEqual(['oci', 'oci', 'oci', 'oci']);
    expect(server.received).toHaveLength(4);
  });

  it('a deadline that comes while waiting for a busy pool is transient, and sends nothing', async () => {
    server.acceptDelayMs = 1_000;
    const mailer = open(server, { handshakeTimeoutMs: SESSION_MS, pool: { maxConnections: 1 } });
    const first = mailer.send(mail('holding'), { deadline: Date.now() + 10_000 });
    // The one connection is busy with the first message (the server holds its final reply).
    await vi.waitFor(() => expect(server.dataTransactions).toBe(1));
    const prepared = await composeMessage(normalizeMessage(mail('waiting')));
    const waiting = await (await mailer.adapter())
      .send(prepared, { deadline: Date.now() + 300 })
      .catch((e: unknown) => e);
    expect(waiting).toBeInstanceOf(TransientError);
    expect((waiting as Error).message).toMatch(/before a connection was free/);
    await first;
    expect(server.received).toHaveLength(1);
  });
});

describe('through a Mailer with two providers', () => {
  it('a primary that never greets fails over to the secondary at once: one try, 0 ambiguous, delivered once', async () => {
    const primary = ociSmtp('primary', blackHole, { handshakeTimeoutMs: HANDSHAKE_MS });
    const mailer = failovers.create(failoverConfig([primary, ociSmtp('secondary', server)]));
    const before = blackHole.connections;
    const result = await mailer.send(mail('silent-primary'), { deadline: Date.now() + 10_000 });
    expect(result.name).toBe('secondary');
    // At once: the primary's attempt ended by the handshake timeout, not by nodemailer's 10 s greeting timeout.
    expect(result.attempts?.[0]?.error?.message).toMatch(ENDED_BY_HANDSHAKE_TIMEOUT);
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.filter((a) => a.errorCode === 'AMBIGUOUS')).toEqual([]);
    expect(blackHole.connections - before).toBe(1);
    expect(copies(server, 'silent-primary')).toBe(1);

    // Marked down: the next message goes straight to the secondary, without waiting on the primary again.
    const next = await mailer.send(mail('next'), { deadline: Date.now() + 10_000 });
    expect(steps(next.attempts)).toEqual([
      ['primary', 'skipped', undefined],
      ['secondary', 'sent', undefined],
    ]);
    expect(blackHole.connections - before).toBe(1);
  });
});

describe('configuration', () => {
  it('takes smtp.handshakeTimeoutMs, and refuses the API-mode connectTimeoutMs on an SMTP entry, naming both', () => {
    const entry = { provider: 'oci', mode: 'smtp', region: 'eu-frankfurt-1', smtpCredentials: credentials };
    expect(() => validateConfig({ providers: [{ ...entry, smtp: { handshakeTimeoutMs: 2_000 } }] })).not.toThrow();
    expect(() => validateConfig({ providers: [{ ...entry, smtp: { handshakeTimeoutMs: 0 } }] })).toThrow(
      /smtp\.handshakeTimeoutMs/,
    );
    expect(() => validateConfig({ providers: [{ ...entry, connectTimeoutMs: 2_000 }] })).toThrow(
      /providers\[0\]\.connectTimeoutMs: is for api mode; in smtp mode use smtp\.handshakeTimeoutMs/,
    );
  });
});
