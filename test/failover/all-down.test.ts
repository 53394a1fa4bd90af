import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AllProvidersFailedError } from '../../core/errors.ts';
import { MemoryStore } from '../../stores/memory.ts';
import {
  closedPort,
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  rejectionOf,
  resetServer,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// Every server down → AllProvidersFailedError listing every attempt with its own error, retryable, and the
// idempotency key left free: the queue's redelivery, once the servers are back, is delivered.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
const mailers = new Mailers();

beforeAll(async () => {
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
});
afterAll(() => Promise.all([primary.close(), secondary.close()]));

describe('every server down', () => {
  it('fails with every attempt, retryable, and the redelivery after recovery is delivered once', async () => {
    const store = new MemoryStore();
    // A threshold above the two tries on the primary: its transient failures do not take it out.
    const config = failoverConfig(
      [ociSmtp('primary', primary), ociSmtp('secondary', secondary), ociSmtp('tertiary', { port: await closedPort() })],
      { health: { failureThreshold: 5 } },
    );
    const a = mailers.create(config, { store });
    primary.fault = { stage: 'mail', reply: '421 4.3.2 Service shutting down' };
    secondary.fault = { stage: 'greeting', reply: '554 5.3.2 Not available' };
    const message = mail('all-down');
    const deliver = () => ({ idempotencyKey: 'queue-message-all-down', deadline: Date.now() + 10_000 });

    const error = await rejectionOf(a.send(message, deliver()));
    expect(error).toBeInstanceOf(AllProvidersFailedError);
    const failed = error as AllProvidersFailedError;
    expect(failed).toMatchObject({ code: 'ALL_PROVIDERS_FAILED', retryable: true, failover: false });
    expect(steps(failed.attempts)).toEqual([
      ['primary', 'failed', 'TRANSIENT'],
      ['primary', 'failed', 'TRANSIENT'],
      ['secondary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['tertiary', 'failed', 'PROVIDER_UNAVAILABLE'],
    ]);
    // Each attempt carries its provider's own error, and the message names each entry.
    expect(failed.attempts.map((attempt) => attempt.error?.providerCode)).toEqual([421, 421, 554, undefined]);
    expect(failed.message).toMatch(/primary: .*421.*secondary: .*554.*tertiary: .*could not be reached/);
    expect(failed.toJSON()).toMatchObject({ retryable: true, attempts: failed.attempts });

    // Meanwhile the secondary and tertiary are marked down: the next message is tried where it can be, and
    // the result still accounts for every entry.
    const next = (await rejectionOf(
      a.send(mail('all-down-2'), { deadline: Date.now() + 10_000 }),
    )) as AllProvidersFailedError;
    expect(next).toMatchObject({ code: 'ALL_PROVIDERS_FAILED', retryable: true });
    expect(steps(next.attempts)).toEqual([
      ['primary', 'failed', 'TRANSIENT'],
      ['primary', 'failed', 'TRANSIENT'],
      ['secondary', 'skipped', undefined],
      ['tertiary', 'skipped', undefined],
    ]);
    expect(next.attempts.slice(2).map((attempt) => attempt.reason)).toEqual([
      expect.stringMatching(/^marked down: PROVIDER_UNAVAILABLE/),
      expect.stringMatching(/^marked down: PROVIDER_UNAVAILABLE/),
    ]);
    expect(primary.received.length + secondary.received.length).toBe(0);

    // The servers recover; another instance gets the redelivery: the key was not marked done, so it is sent.
    primary.fault = undefined;
    secondary.fault = undefined;
    const b = mailers.create(config, { store });
    const delivered = await b.send(message, deliver());
    expect(delivered.duplicate).toBeUndefined();
    expect(steps(delivered.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(copies(primary, 'all-down')).toBe(1);
    // And from then on it is done.
    expect(await a.send(message, deliver())).toEqual({ ...delivered, duplicate: true });
    expect(copies(primary, 'all-down') + copies(secondary, 'all-down')).toBe(1);
  });
});
