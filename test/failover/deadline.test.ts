import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeadlineExceededError } from '../../core/errors.ts';
import { MemoryStore } from '../../stores/memory.ts';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  rejectionOf,
  resetServer,
  SMTP_CREDENTIALS,
  smtpTo,
  startTcpTap,
  steps,
  stubSmtpSecrets,
  type TcpTap,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// A deadline too short for retries or failover: send() answers by then with DeadlineExceededError, nothing is
// sent, and the idempotency key stays free for the queue's redelivery. What ended a wait shows in the attempts
// and their errors, never in how long the send took.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
let tap: TcpTap;
const mailers = new Mailers();

beforeAll(async () => {
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  tap = await startTcpTap(primary);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  tap.hang = false;
  resetServer(primary);
  resetServer(secondary);
});
afterAll(() => Promise.all([tap.close(), primary.close(), secondary.close()]));

/** Two instances sharing a store; the primary is behind the tap, with SMTP timeouts far beyond any deadline here. */
function instances() {
  const store = new MemoryStore();
  const config = failoverConfig([ociSmtp('primary', tap), ociSmtp('secondary', secondary)]);
  return [mailers.create(config, { store }), mailers.create(config, { store })] as const;
}

describe('deadline', () => {
  it('a hung primary uses up the deadline: DeadlineExceededError, no failover, and the key stays free', async () => {
    const [a, b] = instances();
    tap.hang = true;
    const message = mail('hung');
    const deadline = Date.now() + 1_000;
    const error = await rejectionOf(a.send(message, { idempotencyKey: 'queue-message-hung', deadline }));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ retryable: true, failover: false });
    const { attempts } = error as DeadlineExceededError;
    expect(steps(attempts)).toEqual([['primary', 'failed', 'TRANSIENT']]);
    // The SMTP timeouts are 10 s (and end as PROVIDER_UNAVAILABLE): only the deadline ended the wait.
    expect(attempts[0]?.error?.message).toMatch(/the deadline passed before/);
    expect(secondary.auths).toHaveLength(0);
    expect(copies(primary, 'hung') + copies(secondary, 'hung')).toBe(0);

    // The relay answers again; the redelivery, with time to spare, is sent: the key was not marked done.
    tap.hang = false;
    const result = await b.send(message, { idempotencyKey: 'queue-message-hung', deadline: Date.now() + 10_000 });
    expect(result.duplicate).toBeUndefined();
    expect(steps(result.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(copies(primary, 'hung')).toBe(1);
  });

  it('a deadline inside the safety margin: no provider is even tried, and the key stays free', async () => {
    const [a, b] = instances();
    const message = mail('no-time');
    const connections = tap.connections;
    const error = await rejectionOf(
      a.send(message, { idempotencyKey: 'queue-message-no-time', deadline: Date.now() + 50 }),
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).attempts).toEqual([]);
    expect(tap.connections).toBe(connections);
    expect(secondary.auths).toHaveLength(0);

    const result = await b.send(message, { idempotencyKey: 'queue-message-no-time', deadline: Date.now() + 10_000 });
    expect(result.duplicate).toBeUndefined();
    expect(copies(primary, 'no-time')).toBe(1);
  });

  it('a throttle whose Retry-After does not fit the deadline moves on instead of waiting past it', async () => {
    // "450 4.2.1" is Gmail's peak-rate throttle, 60 s; the route could wait 2 minutes, but the deadline leaves
    // less than 10 s: the secondary is tried at once, with the rest of them (plenty for a send on any machine).
    const store = new MemoryStore();
    const gmailSmtp = {
      name: 'primary',
      provider: 'gmail',
      mode: 'smtp',
      smtpAuth: 'password',
      smtpCredentials: SMTP_CREDENTIALS,
      smtp: smtpTo(primary),
    };
    const config = failoverConfig([gmailSmtp, ociSmtp('secondary', secondary)], {
      retry: { maxThrottleWaitMs: 120_000 },
    });
    const mailer = mailers.create(config, { store });
    primary.fault = {
      stage: 'mail',
      reply: '450 4.2.1 The user you are trying to contact is receiving mail too fast.',
    };
    const result = await mailer.send(mail('throttled-deadline'), { deadline: Date.now() + 10_000 });
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'THROTTLED'],
      ['secondary', 'sent', undefined],
    ]);
    expect(copies(secondary, 'throttled-deadline')).toBe(1);
  });
});
