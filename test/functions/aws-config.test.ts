import { GetParameterCommand, GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { missingSecrets, resolveSecret, validateConfig } from '../../core/config/config.ts';
import { provideSecret } from '../../core/config/secret-refs.ts';
import { type ConfigurationError, ProviderUnavailableError } from '../../core/errors.ts';
import type { SendAnswer } from '../../core/runtime/send-payload.ts';
import { type SsmEmulator, startSsmEmulator } from '../../emulators/ssm/index.ts';
import { builtInProviders } from '../../providers/index.ts';
import {
  type AwsWorld,
  captureOutput,
  copies,
  lambdaContext,
  message,
  routingConfig,
  SMTP_PASSWORD,
  SMTP_USER,
  startAwsWorld,
} from './aws-lambda.ts';

type Invoke = (event: unknown, context: Context) => Promise<SendAnswer>;

function configIssues(data: unknown) {
  try {
    validateConfig(data, 'test', builtInProviders);
  } catch (error) {
    return (error as ConfigurationError).issues;
  }
  throw new Error('expected the configuration to be refused');
}

const sesEntry = (password: unknown) => ({
  provider: 'ses',
  mode: 'smtp',
  region: 'us-east-1',
  smtpCredentials: { username: { env: 'SMTP_USER' }, password },
});

describe('secret references in the configuration', () => {
  it('takes { env }, { ssm } and { secretsManager, key } and names the field of a wrong one', () => {
    expect(() =>
      validateConfig({
        providers: [
          sesEntry({ ssm: '/mailroute/ses-smtp-password' }),
          { ...sesEntry({ secretsManager: 'mailroute/ses-smtp', key: 'password' }), name: 'second' },
        ],
      }),
    ).not.toThrow();
    expect(configIssues({ providers: [sesEntry({ ssm: 'not a name' })] })).toEqual([
      {
        path: 'providers[0].smtpCredentials.password.ssm',
        message: 'must be an SSM parameter name such as /mailroute/smtp-password',
      },
    ]);
    expect(configIssues({ providers: [sesEntry({ ssm: '/a', env: 'B' })] })).toEqual([
      {
        path: 'providers[0].smtpCredentials.password',
        message:
          'must be one of { env: NAME }, { ssm: "/parameter/name" } or { secretsManager: "secret-id", key?: "field" }',
      },
    ]);
    expect(configIssues({ providers: [sesEntry('in-clear-password')] })).toEqual([
      {
        path: 'providers[0].smtpCredentials.password',
        message: 'a secret must be a reference such as { env: "VARIABLE" }, never the value itself',
      },
    ]);
  });

  it('resolves a cloud reference only once the runtime has provided it, and redacts it from then on', () => {
    const ref = { secretsManager: 'mailroute/unit-test', key: 'password' };
    expect(() => resolveSecret(ref, 'providers[0].smtpCredentials.password')).toThrow(
      'providers[0].smtpCredentials.password: Secrets Manager secret mailroute/unit-test (key "password") has not been read',
    );
    provideSecret(ref, 'unit-test-secret-value-91');
    expect(resolveSecret(ref, 'providers[0].smtpCredentials.password')).toBe('unit-test-secret-value-91');
    expect(new ProviderUnavailableError('echoed unit-test-secret-value-91').message).toBe('echoed [REDACTED]');
    // `config check` cannot read cloud secrets: only environment references are reported missing.
    const config = validateConfig({ providers: [sesEntry({ ssm: '/mailroute/p' })] });
    expect(missingSecrets(config, {})).toEqual([
      { path: 'providers[0].smtpCredentials.username', message: 'environment variable SMTP_USER is not set' },
    ]);
  });
});

describe('cold start: configuration and secrets from SSM and Secrets Manager (through @middy/ssm)', () => {
  let world: AwsWorld;
  let ssm: SsmEmulator;
  let output: ReturnType<typeof captureOutput>;
  const cloudCredentials = {
    username: { secretsManager: 'mailroute/ses-smtp', key: 'username' },
    password: { ssm: '/mailroute/ses-smtp-password' },
  };

  async function coldInvoke(configParameter: string): Promise<Invoke> {
    vi.stubEnv('MAILROUTE_CONFIG_SSM', configParameter);
    vi.resetModules();
    return (await import('../../functions/aws/invoke.ts')).handler as unknown as Invoke;
  }

  beforeAll(async () => {
    [world, ssm] = await Promise.all([startAwsWorld(), startSsmEmulator()]);
    vi.stubEnv('AWS_ENDPOINT_URL_SSM', ssm.url);
    ssm.putParameter('/mailroute/ses-smtp-password', SMTP_PASSWORD);
    ssm.putSecret('mailroute/ses-smtp', JSON.stringify({ username: SMTP_USER, rotated: '2026-11-01' }));
    // YAML text (middy hands it over as a string) and JSON (middy parses it): both are taken.
    const config = routingConfig(world.primary, world.busy, cloudCredentials);
    ssm.putParameter('/mailroute/config.yaml', toYaml(config), 'String');
    ssm.putParameter('/mailroute/config.json', JSON.stringify(config), 'String');
  });
  beforeEach(async () => {
    await world.freshTable();
    output = captureOutput();
    ssm.requests.splice(0);
    world.primary.auths.splice(0);
  });
  afterEach(() => output.restore());
  afterAll(async () => {
    await ssm.close();
    await world.stop();
  });

  it.each(['/mailroute/config.yaml', '/mailroute/config.json'])(
    'reads %s and the secrets once per container; nothing secret in the environment or the logs',
    async (parameter) => {
      const invoke = await coldInvoke(parameter);
      for (const n of [1, 2]) {
        const answer = await invoke(message(`from ${parameter} ${n}`), lambdaContext('mailroute-invoke'));
        expect(answer).toMatchObject({ ok: true, result: { name: 'primary' } });
      }
      expect(copies(world.primary, `from ${parameter} 2`)).toBe(1);
      expect(new Set(world.primary.auths.map((a) => `${a.username}:${a.password}`))).toEqual(
        new Set([`${SMTP_USER}:${SMTP_PASSWORD}`]),
      );
      // One GetParameters for the configuration (prefetched at INIT), one for both secrets, none afterwards.
      expect(ssm.requests).toEqual([
        { action: 'GetParameters', names: [parameter], withDecryption: true },
        {
          action: 'GetParameters',
          names: ['/aws/reference/secretsmanager/mailroute/ses-smtp', '/mailroute/ses-smtp-password'],
          withDecryption: true,
        },
      ]);
      expect(Object.values(process.env)).not.toContain(SMTP_PASSWORD);
      expect(output.text()).not.toContain(SMTP_PASSWORD);
      expect(output.lines().filter((l) => l.message === 'attempt')).toHaveLength(2);
    },
  );

  it('names the field whose secret cannot be read, and tries the cold start again on the next invocation', async () => {
    const config = routingConfig(world.primary, world.busy, {
      username: cloudCredentials.username,
      password: { ssm: '/mailroute/not-yet' },
    });
    ssm.putParameter('/mailroute/config-pending.json', JSON.stringify(config), 'String');
    const invoke = await coldInvoke('/mailroute/config-pending.json');
    expect(await invoke(message('pending secret'), lambdaContext('mailroute-invoke'))).toMatchObject({
      ok: false,
      error: {
        code: 'CONFIGURATION',
        issues: [
          {
            path: 'providers[0].smtpCredentials.password',
            message: 'SSM parameter /mailroute/not-yet could not be read (InvalidParameter /mailroute/not-yet)',
          },
        ],
      },
    });
    ssm.putParameter('/mailroute/not-yet', 'created-later-password');
    expect(await invoke(message('pending secret'), lambdaContext('mailroute-invoke'))).toMatchObject({ ok: true });
    expect(new Set(world.primary.auths.map((a) => a.password))).toEqual(new Set(['created-later-password']));
  });

  it('names a missing key of a JSON secret, a missing configuration parameter, and no configuration at all', async () => {
    const config = routingConfig(world.primary, world.busy, {
      username: { secretsManager: 'mailroute/ses-smtp', key: 'user' },
      password: cloudCredentials.password,
    });
    ssm.putParameter('/mailroute/config-wrong-key.json', JSON.stringify(config), 'String');
    expect(await (await coldInvoke('/mailroute/config-wrong-key.json'))(message('x'), lambdaContext())).toMatchObject({
      ok: false,
      error: {
        issues: [
          {
            path: 'providers[0].smtpCredentials.username',
            message: 'Secrets Manager secret mailroute/ses-smtp (key "user") has no field "user" (is it JSON?)',
          },
        ],
      },
    });
    expect(await (await coldInvoke('/mailroute/absent'))(message('x'), lambdaContext())).toMatchObject({
      ok: false,
      error: { code: 'CONFIGURATION', message: expect.stringMatching(/^SSM parameter \/mailroute\/absent could not/) },
    });
    expect(await (await coldInvoke(''))(message('x'), lambdaContext())).toMatchObject({
      ok: false,
      error: { code: 'CONFIGURATION', message: expect.stringMatching(/^no configuration: set MAILROUTE_CONFIG/) },
    });
  });
});

describe('SSM emulator through @aws-sdk/client-ssm', () => {
  let ssm: SsmEmulator;
  let client: SSMClient;
  beforeAll(async () => {
    ssm = await startSsmEmulator();
    client = new SSMClient({
      region: 'us-east-1',
      endpoint: ssm.url,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await ssm.close();
  });

  it('returns a SecureString decrypted only WithDecryption, and names unknown parameters', async () => {
    await client.send(new PutParameterCommand({ Name: '/t/secure', Value: 'plain-secret', Type: 'SecureString' }));
    const hidden = await client.send(new GetParameterCommand({ Name: '/t/secure' }));
    expect(hidden.Parameter).toMatchObject({ Name: '/t/secure', Type: 'SecureString', Version: 1 });
    expect(hidden.Parameter?.Value).not.toContain('plain-secret');
    const shown = await client.send(new GetParameterCommand({ Name: '/t/secure', WithDecryption: true }));
    expect(shown.Parameter?.Value).toBe('plain-secret');
    expect(shown.Parameter?.LastModifiedDate).toBeInstanceOf(Date);
    await expect(client.send(new GetParameterCommand({ Name: '/t/none' }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
    await expect(
      client.send(new PutParameterCommand({ Name: '/t/secure', Value: 'x', Type: 'SecureString' })),
    ).rejects.toMatchObject({ name: 'ParameterAlreadyExists' });
  });

  it('GetParameters: at most 10 names, results in name order, unknown names listed; Secrets Manager references', async () => {
    ssm.putParameter('/t/b', 'B', 'String');
    ssm.putParameter('/t/a', 'A', 'String');
    ssm.putSecret('app/db', '{"password":"db-secret"}');
    const got = await client.send(
      new GetParametersCommand({
        Names: [
          '/t/b',
          '/t/missing',
          '/aws/reference/secretsmanager/app/db',
          'arn:aws:ssm:us-east-1:000000000000:parameter/t/a',
        ],
        WithDecryption: true,
      }),
    );
    expect(got.Parameters?.map((p) => [p.Name, p.Value])).toEqual([
      ['/aws/reference/secretsmanager/app/db', '{"password":"db-secret"}'],
      ['/t/a', 'A'],
      ['/t/b', 'B'],
    ]);
    expect(got.Parameters?.[0]?.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:app\/db-\w{6}$/);
    expect(got.InvalidParameters).toEqual(['/t/missing']);
    await expect(
      client.send(new GetParametersCommand({ Names: ['/aws/reference/secretsmanager/app/db'] })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      client.send(new GetParametersCommand({ Names: Array.from({ length: 11 }, (_, i) => `/t/${i}`) })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });
});
