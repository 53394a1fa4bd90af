import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import {
  closedPort,
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  resetServer,
  startTcpTap,
  steps,
  stubSmtpSecrets,
  type TcpTap,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// Primary down, for each way a provider goes down → the message is delivered once, by the secondary, and the
// result lists the primary's failure (with its error class) before the secondary's success.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
let blackHole: TcpTap;
let acs: AcsEmulator;
let ses: SesEmulator;
const mailers = new Mailers();

const acsEntry = (name: string) => ({
  name,
  provider: 'azure',
  mode: 'api',
  connectionString: { env: 'MR_FAILOVER_ACS_CS' },
  pollIntervalMs: 5,
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
const sesCopies = async (subject: string) => (await ses.store()).emails.filter((e) => e.subject === subject).length;
const soon = () => ({ deadline: Date.now() + 10_000 });

beforeAll(async () => {
  [primary, secondary, acs, ses] = await Promise.all([
    startTestSmtpServer(),
    startTestSmtpServer(),
    startAcsEmulator(),
    startSesEmulator(),
  ]);
  // A relay that accepts the connection and never says a word.
  blackHole = await startTcpTap(primary);
  blackHole.hang = true;
  stubSmtpSecrets();
  vi.stubEnv('MR_FAILOVER_ACS_CS', acs.connectionString);
  vi.stubEnv('MR_FAILOVER_SES_KEY', 'AKIDFAILOVERTEST');
  vi.stubEnv('MR_FAILOVER_SES_SECRET', 'failover-test-secret');
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
  acs.reset();
  await ses.clear();
});
afterAll(async () => {
  await Promise.all([primary.close(), secondary.close(), blackHole.close(), acs.close(), ses.close()]);
  vi.unstubAllEnvs();
});

describe('primary down → delivered once by the secondary', () => {
  it('connection refused (nothing listens): an unavailable provider, failed over at once', async () => {
    const mailer = mailers.create(
      failoverConfig([ociSmtp('primary', { port: await closedPort() }), ociSmtp('secondary', secondary)]),
    );
    const result = await mailer.send(mail('refused'), soon());
    expect(result).toMatchObject({ name: 'secondary', route: 'main' });
    expect(result.duplicate).toBeUndefined();
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({ provider: 'oci', mode: 'smtp', failover: true });
    expect(copies(secondary, 'refused')).toBe(1);
    expect(secondary.received).toHaveLength(1);
  });

  it('timeout (a relay that accepts the connection and never greets): unavailable, failed over at once', async () => {
    const timeouts = { connectionTimeoutMs: 300, greetingTimeoutMs: 300, socketTimeoutMs: 300 };
    const mailer = mailers.create(
      failoverConfig([ociSmtp('primary', blackHole, timeouts), ociSmtp('secondary', secondary)]),
    );
    const before = blackHole.connections;
    const result = await mailer.send(mail('timeout'), soon());
    expect(result.name).toBe('secondary');
    // No session was ever set up, so nothing was handed over: not worth a second wait, and safe to fail over.
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(blackHole.connections - before).toBe(1);
    expect(copies(secondary, 'timeout')).toBe(1);
  });

  it('5xx outage of an API (ACS answers 503): transient, retried, then failed over to SMTP', async () => {
    acs.faults.add({ status: 503, fraction: 1, pathIncludes: 'emails:send' });
    const mailer = mailers.create(failoverConfig([acsEntry('primary'), ociSmtp('secondary', secondary)]));
    const result = await mailer.send(mail('acs-503'), soon());
    expect(result).toMatchObject({ name: 'secondary', provider: 'oci', mode: 'smtp' });
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'TRANSIENT'],
      ['primary', 'failed', 'TRANSIENT'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({ provider: 'azure', mode: 'api', providerCode: 503 });
    expect(acs.store.emails).toHaveLength(0);
    expect(copies(secondary, 'acs-503')).toBe(1);
  });

  it('account outage of an API (SES SendingPausedException): unavailable, failed over at once to another API', async () => {
    ses.faults.add({ errorCode: 'SendingPausedException', fraction: 1 });
    const mailer = mailers.create(failoverConfig([sesEntry('primary'), acsEntry('secondary')]));
    const result = await mailer.send(mail('ses-paused'), soon());
    expect(result).toMatchObject({ name: 'secondary', provider: 'azure', mode: 'api' });
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({ provider: 'ses', providerCode: 'SendingPausedException' });
    expect(await sesCopies('ses-paused')).toBe(0);
    expect(acsCopies('ses-paused')).toBe(1);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('SMTP 421 (service shutting down): transient, retried, then failed over', async () => {
    primary.fault = { stage: 'mail', reply: '421 4.3.2 Service shutting down' };
    const mailer = mailers.create(failoverConfig([ociSmtp('primary', primary), ociSmtp('secondary', secondary)]));
    const result = await mailer.send(mail('smtp-421'), soon());
    expect(result.name).toBe('secondary');
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'TRANSIENT'],
      ['primary', 'failed', 'TRANSIENT'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({ providerCode: 421 });
    expect(primary.received).toHaveLength(0);
    expect(primary.dataTransactions).toBe(0);
    expect(copies(secondary, 'smtp-421')).toBe(1);
  });
});
