import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type MailrouteConfig, redactConfig, validateConfig } from '../../core/config/config.ts';
import type * as CreateMailer from '../../create-mailer.ts';

// The Redis store that infra/gcp provides: a Secret Manager secret mounted as MAILROUTE_STORE_REDIS_URL becomes the
// configuration's `store` at cold start, unless the configuration names one. createMailer is replaced, so what the
// cold start hands it is what is checked (no Redis server is needed).

const createMailer = vi.hoisted(() => vi.fn(async (_config: unknown) => ({ close: async () => {} })));
vi.mock('../../create-mailer.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof CreateMailer>()),
  createMailer,
}));

const PASSWORD = 'memorystore-auth-4f1c9e27-b1d0';
const URL_VALUE = `rediss://:${PASSWORD}@10.20.0.4:6378`;
const relay = {
  name: 'relay',
  provider: 'gmail',
  mode: 'smtp',
  domain: 'example.com',
  smtpAuth: 'password',
  smtpCredentials: { username: { env: 'GMAIL_RELAY_USER' }, password: { env: 'GMAIL_RELAY_PASSWORD' } },
};
const config = (extra: Record<string, unknown> = {}) => validateConfig({ providers: [relay], ...extra }, 'test');

let stdout: string[];
beforeEach(() => {
  createMailer.mockClear();
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

/** A new instance: the function's modules loaded afresh, with the secret registry and error class they use. */
async function instance() {
  vi.resetModules();
  const { mailer: instanceMailer, ...gcp } = await import('../../functions/gcp/config.ts');
  return {
    ...gcp,
    instanceMailer,
    ...(await import('../../core/config/secrets.ts')),
    ...(await import('../../core/errors.ts')),
  };
}

/** A new instance's cold start with this environment; what createMailer received. */
async function coldStart(env: Record<string, string>, fresh?: Awaited<ReturnType<typeof instance>>) {
  const { instanceMailer } = fresh ?? (await instance());
  await instanceMailer({ MAILROUTE_CONFIG: JSON.stringify(config()), ...env });
  expect(createMailer).toHaveBeenCalledTimes(1);
  return createMailer.mock.calls[0]![0] as MailrouteConfig;
}

describe('GCP functions: the Redis state store from MAILROUTE_STORE_REDIS_URL', () => {
  it('a mounted URL makes the store { type: redis, url: { env: MAILROUTE_STORE_REDIS_URL } } at cold start', async () => {
    const got = await coldStart({ MAILROUTE_STORE_REDIS_URL: URL_VALUE });
    expect(got.store).toEqual({ type: 'redis', url: { env: 'MAILROUTE_STORE_REDIS_URL' } });
    expect(got.providers).toHaveLength(1);
  });

  it('without the variable (or empty) the configuration is left as it is: no store, memory per instance', async () => {
    expect((await coldStart({})).store).toBeUndefined();
    createMailer.mockClear();
    expect((await coldStart({ MAILROUTE_STORE_REDIS_URL: '' })).store).toBeUndefined();
  });

  it('a store the configuration names wins over the mounted URL, and the log says which was ignored', async () => {
    const { withRedisStore } = await instance();
    const env = { MAILROUTE_STORE_REDIS_URL: URL_VALUE };
    const dynamodb = { type: 'dynamodb', tableName: 'mailroute-state', region: 'eu-west-1' };
    expect(withRedisStore(config({ store: dynamodb }), env).store).toEqual(dynamodb);
    expect(withRedisStore(config({ store: { type: 'memory' } }), env).store).toEqual({ type: 'memory' });
    const lines = stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ type: 'dynamodb', ignored: 'MAILROUTE_STORE_REDIS_URL', severity: 'INFO' }),
    );
    expect(stdout.join('')).not.toContain(PASSWORD);
  });

  it('never shows the URL: not in the configuration as printed, not in logs, and registered for redaction', async () => {
    const fresh = await instance();
    const { redactSecrets } = fresh;
    expect(redactSecrets(URL_VALUE)).toBe(URL_VALUE); // not known before the cold start
    const got = await coldStart({ MAILROUTE_STORE_REDIS_URL: URL_VALUE }, fresh);
    const printed = JSON.stringify(redactConfig(got));
    expect(printed).toContain('"url":{"env":"MAILROUTE_STORE_REDIS_URL"}');
    expect(printed).not.toContain(PASSWORD);
    expect(printed).not.toContain('10.20.0.4');
    expect(stdout.join('')).not.toContain(PASSWORD);
    expect(redactSecrets(`connect failed: ${URL_VALUE}`)).toBe('connect failed: [REDACTED]');
    expect(redactSecrets(`AUTH ${PASSWORD} refused`)).toBe('AUTH [REDACTED] refused');
  });

  it('a value that is not a Redis URL fails the cold start naming the variable, never echoing the value', async () => {
    const { withRedisStore, ConfigurationError, instanceMailer } = await instance();
    for (const wrong of ['https://user:hunter2-not-redis@cache.example.com', 'hunter2-not-a-url-at-all']) {
      const error = (() => {
        try {
          withRedisStore(config(), { MAILROUTE_STORE_REDIS_URL: wrong });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigurationError);
      const refused = error as InstanceType<typeof ConfigurationError>;
      expect(refused.issues).toEqual([
        { path: 'MAILROUTE_STORE_REDIS_URL', message: expect.stringMatching(/redis:\/\/ or rediss:\/\//) },
      ]);
      expect(JSON.stringify(refused.toJSON())).not.toContain('hunter2');
      expect(refused.message).not.toContain('hunter2');
    }
    const env = { MAILROUTE_CONFIG: JSON.stringify(config()), MAILROUTE_STORE_REDIS_URL: 'memcached://x:1' };
    await expect(instanceMailer(env)).rejects.toThrow(/MAILROUTE_STORE_REDIS_URL is not a redis:\/\/ or rediss:\/\//);
    expect(createMailer).not.toHaveBeenCalled();
  });
});
