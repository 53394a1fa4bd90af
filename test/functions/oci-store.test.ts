import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type MailrouteConfig, redactConfig } from '../../core/config/config.ts';
import type * as CreateMailer from '../../create-mailer.ts';
import { type OciVaultEmulator, startOciVaultEmulator } from '../../emulators/oci-vault/server.ts';
import { apiKey, FINGERPRINT, keyId, SMTP_PASSWORD, SMTP_PASSWORD_SECRET, TENANCY, USER } from './oci-world.ts';

// The Redis store that infra/oci provides: MAILROUTE_STORE_REDIS_URL_SECRET (a Vault secret OCID in the function's
// configuration) becomes the configuration's `store`, its URL read at cold start with the other { ociVault }
// secrets, unless the configuration names a store. createMailer is replaced, so what the cold start hands it is what
// is checked (no Redis server is needed); Vault is the emulator, the requests signed as the function would.

const createMailer = vi.hoisted(() => vi.fn(async (_config: unknown) => ({ close: async () => {} })));
vi.mock('../../create-mailer.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof CreateMailer>()),
  createMailer,
}));

const REDIS_SECRET = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaamailrouteredisurl';
const PASSWORD = 'oci-cache-pass-7d2e-91ab';
const URL_VALUE = `rediss://:${PASSWORD}@abcdefgh-p.redis.eu-frankfurt-1.oci.oraclecloud.com:6379`;
const entry = {
  name: 'oci',
  provider: 'oci',
  mode: 'smtp',
  region: 'eu-frankfurt-1',
  smtpCredentials: { username: { env: 'MR_OCI_SMTP_USER' }, password: { ociVault: SMTP_PASSWORD_SECRET } },
};
const routing = (extra: Record<string, unknown> = {}) => JSON.stringify({ providers: [entry], ...extra });

let vault: OciVaultEmulator;
let env: Record<string, string>;
let stdout: string[];

beforeAll(async () => {
  vault = await startOciVaultEmulator({
    keys: [{ keyId, publicKeyPem: apiKey.publicKey }],
    secrets: { [SMTP_PASSWORD_SECRET]: SMTP_PASSWORD, [REDIS_SECRET]: URL_VALUE },
  });
});
afterAll(() => vault.close());
beforeEach(() => {
  createMailer.mockClear();
  vault.reads.length = 0;
  vault.secrets.set(REDIS_SECRET, URL_VALUE);
  env = {
    MAILROUTE_OCI_TENANCY: TENANCY,
    MAILROUTE_OCI_USER: USER,
    MAILROUTE_OCI_FINGERPRINT: FINGERPRINT,
    MAILROUTE_OCI_PRIVATE_KEY: apiKey.privateKey,
    MAILROUTE_OCI_VAULT_ENDPOINT: vault.url,
    MR_OCI_SMTP_USER: 'smtp-user',
    MAILROUTE_CONFIG: routing(),
    MAILROUTE_STORE_REDIS_URL_SECRET: REDIS_SECRET,
  };
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

/** A new container: the function's modules loaded afresh, with the secret registry and error class they use. */
async function container() {
  vi.resetModules();
  const { mailer: coldStart, ...oci } = await import('../../functions/oci/config.ts');
  return {
    ...oci,
    coldStart,
    ...(await import('../../core/config/secrets.ts')),
    ...(await import('../../core/config/secret-refs.ts')),
    ...(await import('../../core/errors.ts')),
  };
}

describe('OCI function: the Redis state store from MAILROUTE_STORE_REDIS_URL_SECRET', () => {
  it('the Vault secret becomes store { type: redis, url: { ociVault } }, read once at cold start with the others', async () => {
    const { coldStart, providedSecret, redactSecrets } = await container();
    await coldStart(env);
    expect(createMailer).toHaveBeenCalledTimes(1);
    const config = createMailer.mock.calls[0]![0] as MailrouteConfig;
    expect(config.store).toEqual({ type: 'redis', url: { ociVault: REDIS_SECRET } });
    expect([...vault.reads].sort()).toEqual([REDIS_SECRET, SMTP_PASSWORD_SECRET].sort());
    // What the store will resolve: the URL, provided to the reference, and known as a secret (so is its password).
    expect(providedSecret({ ociVault: REDIS_SECRET })).toBe(URL_VALUE);
    expect(redactSecrets(`connect ${URL_VALUE} failed`)).toBe('connect [REDACTED] failed');
    expect(redactSecrets(`WRONGPASS ${PASSWORD}`)).toBe('WRONGPASS [REDACTED]');
  });

  it('never shows the URL: the printed configuration holds the OCID only, and nothing logged holds it', async () => {
    const { coldStart } = await container();
    await coldStart(env);
    const printed = JSON.stringify(redactConfig(createMailer.mock.calls[0]![0] as MailrouteConfig));
    expect(printed).toContain(`"url":{"ociVault":"${REDIS_SECRET}"}`);
    expect(printed).not.toContain(PASSWORD);
    expect(printed).not.toContain('oraclecloud.com');
    expect(stdout.join('')).not.toContain(PASSWORD);
  });

  it('without the key the configuration is left as it is (memory per container), and nothing more is read', async () => {
    const { coldStart } = await container();
    await coldStart({ ...env, MAILROUTE_STORE_REDIS_URL_SECRET: '' });
    expect((createMailer.mock.calls[0]![0] as MailrouteConfig).store).toBeUndefined();
    expect(vault.reads).toEqual([SMTP_PASSWORD_SECRET]);
  });

  it('a store the configuration names wins: the Redis secret is not even read', async () => {
    const { coldStart } = await container();
    const dynamodb = { type: 'dynamodb', tableName: 'mailroute-state', region: 'eu-frankfurt-1' };
    await coldStart({ ...env, MAILROUTE_CONFIG: routing({ store: dynamodb }) });
    expect((createMailer.mock.calls[0]![0] as MailrouteConfig).store).toEqual(dynamodb);
    expect(vault.reads).toEqual([SMTP_PASSWORD_SECRET]);
    expect(stdout.map((l) => JSON.parse(l))).toContainEqual(
      expect.objectContaining({ message: 'state store named by the configuration', type: 'dynamodb' }),
    );
  });

  it('a key that is not a Vault secret OCID, an unreadable secret, or one that is not a Redis URL fails the cold start', async () => {
    const { coldStart, ConfigurationError } = await container();
    const failure = (overrides: Record<string, string>) => coldStart({ ...env, ...overrides }).catch((e: unknown) => e);

    const notOcid = await failure({ MAILROUTE_STORE_REDIS_URL_SECRET: 'rediss://:x@host:6379' });
    expect(notOcid).toBeInstanceOf(ConfigurationError);
    expect((notOcid as InstanceType<typeof ConfigurationError>).issues).toEqual([
      { path: 'MAILROUTE_STORE_REDIS_URL_SECRET', message: expect.stringMatching(/OCID of an OCI Vault secret/) },
    ]);

    vault.secrets.delete(REDIS_SECRET);
    const unreadable = await failure({});
    expect((unreadable as InstanceType<typeof ConfigurationError>).issues).toEqual([
      { path: 'store.url', message: expect.stringContaining(`OCI Vault secret ${REDIS_SECRET} could not be read`) },
    ]);

    vault.secrets.set(REDIS_SECRET, 'https://user:hunter2-not-redis@cache.example.com');
    const notRedis = await (await container()).coldStart(env).catch((e: unknown) => e);
    expect((notRedis as Error).message).toMatch(
      /^store\.url: OCI Vault secret .* is not a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect((notRedis as Error).message).not.toContain('hunter2');
    expect(createMailer).not.toHaveBeenCalled();
  });
});
