import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AmbiguousDeliveryError,
  type MailrouteError,
  ProviderUnavailableError,
  TransientError,
} from '../../core/errors.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import type { Fault } from '../../emulators/common/faults.ts';
import { type GmailEmulator, startGmailEmulator } from '../../emulators/gmail/index.ts';
import { type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { type BlackHole, startBlackHole } from '../helpers/black-hole.ts';
import { failoverConfig, Mailers, mail, steps } from '../helpers/failover.ts';

// API mode: setting a connection up (DNS, TCP, TLS) has its own bound, connectTimeoutMs. An endpoint that takes
// the TCP connection and never completes TLS (the black hole, over https) received nothing: the adapter fails
// with ProviderUnavailableError (failover at once, never AMBIGUOUS). A request that went out and got no answer
// (the emulators' `hang`) stays ambiguous. Which bound ended a call shows in what happened (the error's class and
// its words, the attempts), never in how long it took: a loaded machine is slow, not different. The lower bounds
// on elapsed time (a bound did not cut the call short) are safe on any machine.

const CONNECT_MS = 300;
const SA = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const OCI = {
  tenancy: 'ocid1.tenancy.oc1..aaaaconnecttenancy',
  user: 'ocid1.user.oc1..aaaaconnectuser',
  fingerprint: '11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:01',
  compartment: 'ocid1.compartment.oc1..aaaaconnect',
};
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const gmailKey = rsa();
const ociKey = rsa();

let blackHole: BlackHole;
let ses: SesEmulator;
let acs: AcsEmulator;
let gmail: GmailEmulator;
let oci: OciEmulator;
const mailers = new Mailers();

interface Provider {
  /** A provider entry named `name`, at `endpoint` (its emulator when absent). */
  entry(name: string, endpoint?: string): Record<string, unknown>;
  /** Messages the emulator stored. */
  stored(): Promise<number>;
  /** Arms the emulator's `hang` on the send request: it takes the request and never answers. */
  hang(): void;
}

const PROVIDERS: Record<'ses' | 'azure' | 'gmail' | 'oci', Provider> = {
  ses: {
    entry: (name, endpoint) => ({
      name,
      provider: 'ses',
      mode: 'api',
      region: 'eu-west-1',
      endpoint: endpoint ?? ses.url,
      credentials: { accessKeyId: { env: 'MR_CONNECT_AWS_ID' }, secretAccessKey: { env: 'MR_CONNECT_AWS_SECRET' } },
    }),
    stored: async () => (await ses.store()).emails.length,
    hang: () => ses.faults.add({ hang: true, pathIncludes: 'outbound-emails' } satisfies Fault),
  },
  azure: {
    entry: (name, endpoint) => ({
      name,
      provider: 'azure',
      mode: 'api',
      ...(endpoint
        ? { endpoint, accessKey: { env: 'MR_CONNECT_ACS_KEY' } }
        : { connectionString: { env: 'MR_CONNECT_ACS_CS' } }),
      pollIntervalMs: 5,
    }),
    stored: async () => acs.store.emails.length,
    hang: () => acs.faults.add({ hang: true, pathIncludes: 'emails:send' }),
  },
  gmail: {
    entry: (name, endpoint) => ({
      name,
      provider: 'gmail',
      mode: 'api',
      endpoint: endpoint ?? gmail.url,
      serviceAccount: { clientEmail: SA, privateKey: { env: 'MR_CONNECT_GMAIL_KEY' }, tokenUrl: gmail.tokenUrl },
      user: SENDER,
    }),
    stored: async () => gmail.store.length,
    hang: () => gmail.faults.add({ hang: true, pathIncludes: '/messages/send' }),
  },
  oci: {
    entry: (name, endpoint) => ({
      name,
      provider: 'oci',
      mode: 'api',
      region: 'us-ashburn-1',
      endpoint: endpoint ?? oci.url,
      compartmentId: OCI.compartment,
      apiKey: {
        tenancy: OCI.tenancy,
        user: OCI.user,
        fingerprint: OCI.fingerprint,
        privateKey: { env: 'MR_CONNECT_OCI_KEY' },
      },
    }),
    stored: async () => oci.store.length,
    hang: () => oci.faults.add({ hang: true, pathIncludes: 'submitEmail' }),
  },
};

beforeAll(async () => {
  // The OCI SDK console.warns every failed call; these tests provoke them on purpose.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  [blackHole, ses, acs, gmail, oci] = await Promise.all([
    startBlackHole(),
    startSesEmulator(),
    startAcsEmulator(),
    startGmailEmulator({
      port: 0,
      serviceAccounts: [{ clientEmail: SA, publicKeyPem: gmailKey.publicKey }],
      delegatedUsers: [SENDER],
    }),
    startOciEmulator({
      port: 0,
      keys: [{ keyId: `${OCI.tenancy}/${OCI.user}/${OCI.fingerprint}`, publicKeyPem: ociKey.publicKey }],
    }),
  ]);
  vi.stubEnv('MR_CONNECT_AWS_ID', 'AKIDCONNECTTEST');
  vi.stubEnv('MR_CONNECT_AWS_SECRET', 'connect-test-secret');
  vi.stubEnv('MR_CONNECT_ACS_CS', acs.connectionString);
  vi.stubEnv('MR_CONNECT_ACS_KEY', acs.accessKey);
  vi.stubEnv('MR_CONNECT_GMAIL_KEY', gmailKey.privateKey);
  vi.stubEnv('MR_CONNECT_OCI_KEY', ociKey.privateKey);
});
afterEach(async () => {
  await mailers.closeAll();
  await ses.clear();
  acs.reset();
  gmail.reset();
  oci.reset();
});
afterAll(async () => {
  await Promise.all([blackHole.close(), ses.close(), acs.close(), gmail.close(), oci.close()]);
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** One send through one adapter (no router), under a deadline: the error it failed with, and how long it took. */
async function attempt(entry: Record<string, unknown>, deadlineMs: number) {
  const mailer = mailers.create({ providers: [entry] });
  const prepared = await composeMessage(normalizeMessage(mail(`to ${String(entry.name)}`)));
  // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
  const started = performance.now();
  const error = await (await mailer.adapter()).send(prepared, { deadline: Date.now() + deadlineMs }).then(
    () => undefined,
    (e: unknown) => e as MailrouteError,
  );
  if (!error) throw new Error('the send succeeded');
  return { error, ms: performance.now() - started };
}

describe.each(Object.keys(PROVIDERS) as (keyof typeof PROVIDERS)[])('%s API', (name) => {
  const provider = PROVIDERS[name];
  const silent = () => ({ ...provider.entry('primary', blackHole.url('https')), connectTimeoutMs: CONNECT_MS });

  it('an endpoint that never completes TLS → ProviderUnavailableError after connectTimeoutMs, nothing sent', async () => {
    const before = blackHole.connections;
    const { error, ms } = await attempt(silent(), 10_000);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ failover: true, provider: name, mode: 'api' });
    // Ended by connectTimeoutMs, not by the 10 s deadline (that is a TransientError, below).
    expect(error.message).toMatch(new RegExp(`within ${CONNECT_MS} ms .*nothing was sent`));
    expect(ms).toBeGreaterThanOrEqual(CONNECT_MS - 20);
    expect(blackHole.connections - before).toBe(1);
  });

  it('the deadline coming while connecting → TransientError: not sent, and not held against the provider', async () => {
    const { error } = await attempt({ ...silent(), connectTimeoutMs: 5_000 }, 300);
    // Ended by the deadline's abort, not by connectTimeoutMs (that is a ProviderUnavailableError, above).
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/no connection was made, nothing was sent \(.*abort/i);
  });

  it('a request that went out and got no answer (hang) stays ambiguous', async () => {
    provider.hang();
    const { error, ms } = await attempt({ ...provider.entry('hung'), connectTimeoutMs: CONNECT_MS }, 800);
    // Cut by the deadline (the emulator never answers), not by connectTimeoutMs: the connection was made.
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error.message).toMatch(/deadline|abort/i);
    expect(ms).toBeGreaterThanOrEqual(700);
  });

  it('through a Mailer, a primary that never connects fails over to the secondary at once, 0 ambiguous', async () => {
    const mailer = mailers.create(failoverConfig([silent(), provider.entry('secondary')]));
    const result = await mailer.send(mail('failover'), { deadline: Date.now() + 10_000 });
    // At once: the primary's attempt ended by connectTimeoutMs (waiting for the deadline would have left the
    // secondary no time, and the primary's error would be the deadline's).
    expect(result.attempts?.[0]?.error?.message).toMatch(new RegExp(`within ${CONNECT_MS} ms`));
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(await provider.stored()).toBe(1);
  });
});

describe('gmail API token endpoint', () => {
  it('a token endpoint that never completes TLS → ProviderUnavailableError: nothing was sent', async () => {
    const entry = PROVIDERS.gmail.entry('token-silent');
    const serviceAccount = { ...(entry.serviceAccount as object), tokenUrl: `${blackHole.url('https')}/token` };
    const { error } = await attempt({ ...entry, serviceAccount, connectTimeoutMs: CONNECT_MS }, 10_000);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error.message).toMatch(new RegExp(`within ${CONNECT_MS} ms`));
    expect(gmail.store).toHaveLength(0);
  });
});
