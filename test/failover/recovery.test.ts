import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  resetServer,
  sleep,
  startTcpTap,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// Primary down for a while → traffic goes to the secondary and the primary is skipped (with the reason), without
// a connection to it; once it is healthy again, the first send after the cool-down goes back to the primary.
// The cool-down is 1.5 s: long enough that the send right after the failure surely falls inside it on a busy
// machine, short enough to wait out.

const COOLDOWN_MS = 1_500;
let primary: TestSmtpServer;
let secondary: TestSmtpServer;
let tap: Awaited<ReturnType<typeof startTcpTap>>;
const mailers = new Mailers();

beforeAll(async () => {
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  tap = await startTcpTap(primary);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
});
afterAll(() => Promise.all([tap.close(), primary.close(), secondary.close()]));

const send = (mailer: Mailer, subject: string) => mailer.send(mail(subject), { deadline: Date.now() + 10_000 });

/** Waits until the health record says the entry may be tried again (the cool-down is over). */
async function outlastCooldown(mailer: Mailer, name: string): Promise<void> {
  const availability = await mailer.health.availability(name);
  const until = availability.ok ? Date.now() : (availability.untilMs ?? Date.now() + COOLDOWN_MS);
  await sleep(Math.max(0, until - Date.now()) + 50);
}

describe('primary recovers → traffic returns after the cool-down', () => {
  it('an outage (554 at the greeting) marks it down at once; the next send skips it, then it is used again', async () => {
    const mailer = mailers.create(
      failoverConfig([ociSmtp('primary', tap), ociSmtp('secondary', secondary)], {
        health: { cooldownMs: COOLDOWN_MS },
      }),
    );
    primary.fault = { stage: 'greeting', reply: '554 5.3.2 Service not available' };
    const first = await send(mailer, 'during-outage-1');
    expect(steps(first.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);

    const connections = tap.connections;
    const second = await send(mailer, 'during-outage-2');
    expect(steps(second.attempts)).toEqual([
      ['primary', 'skipped', undefined],
      ['secondary', 'sent', undefined],
    ]);
    expect(second.attempts?.[0]?.reason).toMatch(/^marked down: PROVIDER_UNAVAILABLE: .*554/);
    expect(tap.connections).toBe(connections);

    primary.fault = undefined;
    await outlastCooldown(mailer, 'primary');
    const after = await send(mailer, 'after-recovery');
    expect(steps(after.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(copies(primary, 'after-recovery')).toBe(1);
    expect(primary.received).toHaveLength(1);
    expect(secondary.received).toHaveLength(2);
  });

  it('consecutive transient failures (421) open the circuit; the half-open probe after the cool-down closes it', async () => {
    const mailer = mailers.create(
      failoverConfig([ociSmtp('primary', tap), ociSmtp('secondary', secondary)], {
        health: { cooldownMs: COOLDOWN_MS, failureThreshold: 2 },
      }),
    );
    primary.fault = { stage: 'mail', reply: '421 4.3.2 Try again later' };
    const first = await send(mailer, 'flapping-1');
    expect(steps(first.attempts)).toEqual([
      ['primary', 'failed', 'TRANSIENT'],
      ['primary', 'failed', 'TRANSIENT'],
      ['secondary', 'sent', undefined],
    ]);
    expect(mailer.health.state('primary')).toBe('open');

    const connections = tap.connections;
    const second = await send(mailer, 'flapping-2');
    expect(steps(second.attempts)).toEqual([
      ['primary', 'skipped', undefined],
      ['secondary', 'sent', undefined],
    ]);
    // The open circuit is published as a "down until" record, so other instances skip it too.
    expect(second.attempts?.[0]?.reason).toMatch(/^marked down: TRANSIENT: .*421/);
    expect(tap.connections).toBe(connections);

    primary.fault = undefined;
    await outlastCooldown(mailer, 'primary');
    const after = await send(mailer, 'after-probe');
    expect(steps(after.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(mailer.health.state('primary')).toBe('closed');
    expect(await mailer.health.availability('primary')).toEqual({ ok: true });
    const next = await send(mailer, 'after-probe-2');
    expect(steps(next.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(primary.received).toHaveLength(2);
    expect(secondary.received).toHaveLength(2);
  });
});
