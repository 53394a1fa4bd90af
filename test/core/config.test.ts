import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadConfig,
  missingSecrets,
  parseConfig,
  redactConfig,
  resolveSecret,
  validateConfig,
} from '../../core/config/config.ts';
import { ConfigurationError, ProviderUnavailableError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

function configIssues(text: string) {
  try {
    parseConfig(text, 'configuration', builtInProviders);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).issues;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('falls back to the embedded default: the local capture inbox over SMTP', () => {
    const { config, source } = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'mr-')) });
    expect(source).toBe('default');
    expect(config.providers).toEqual([{ name: 'local', provider: 'local', mode: 'smtp' }]);
  });

  it('reads YAML from a file in the working directory and JSON from MAILROUTE_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-'));
    writeFileSync(join(dir, 'mailroute.config.yaml'), 'providers:\n  - provider: local\n    mode: api\n');
    expect(loadConfig({ env: {}, cwd: dir }).config.providers[0]).toMatchObject({ name: 'local-api', mode: 'api' });
    const env = { MAILROUTE_CONFIG: '{"providers":[{"name":"x","provider":"local","mode":"smtp"}]}' };
    expect(loadConfig({ env, cwd: dir })).toMatchObject({
      source: 'MAILROUTE_CONFIG',
      config: { providers: [{ name: 'x' }] },
    });
    expect(loadConfig({ env: { MAILROUTE_OUTBOX: '/tmp/o' }, cwd: dir }).config.outboxDir).toBe('/tmp/o');
  });

  it('names the exact field of every mistake', () => {
    const issues = configIssues(`
providers:
  - provider: ses
    mode: smtp
    region: nowhere
  - provider: azure
    mode: api
    regoin: typo
  - provider: gmail
    mode: smtp
    smtpAuth: password
`);
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['providers[0].region', 'providers[1].regoin']));
    // An azure entry has no region: the fields it has are named instead.
    expect(issues.find((i) => i.path === 'providers[1].regoin')?.message).toMatch(/^unknown field \(known: name, /);
    const second = configIssues('providers:\n  - provider: ses\n    mode: smtp\n    region: eu-west-1\n');
    expect(second).toEqual([
      {
        path: 'providers[0].smtpCredentials',
        message: 'is required in smtp mode (or give credentials to derive the SMTP password)',
      },
    ]);
    expect(configIssues('providers: []')[0]!.path).toBe('providers');
    expect(configIssues('providers:\n  - {provider: sess, mode: api}\n')).toEqual([
      { path: 'providers[0].provider', message: 'unknown provider "sess" (known: local, ses, azure, gmail, oci)' },
    ]);
    expect(configIssues('providers:\n  - {provider: local, mode: api}\n  - {provider: local, mode: api}\n')[0]).toEqual(
      {
        path: 'providers[1].name',
        message: '"local-api" is used by another provider entry',
      },
    );
  });

  it("says what a mode needs with one issue per missing field, from the provider's descriptor", () => {
    expect(configIssues('providers:\n  - {provider: azure, mode: smtp}\n')).toEqual([
      { path: 'providers[0].entra', message: 'is required in smtp mode (its clientSecret is the password)' },
      {
        path: 'providers[0].resourceName',
        message: 'is required in smtp mode to build the username (or give smtpUsername)',
      },
    ]);
    expect(configIssues('providers:\n  - {provider: gmail, mode: smtp, smtpAuth: xoauth2}\n')).toEqual([
      { path: 'providers[0].serviceAccount', message: 'is required with smtpAuth "xoauth2"' },
      { path: 'providers[0].user', message: 'is required with smtpAuth "xoauth2": the user to sign in as' },
    ]);
    expect(configIssues('providers:\n  - {provider: oci, mode: api, region: eu-frankfurt-1}\n')).toEqual([
      { path: 'providers[0].compartmentId', message: 'is required in api mode' },
      { path: 'providers[0].apiKey', message: 'is required in api mode unless auth is "resourcePrincipal"' },
    ]);
  });

  it('without a registry checks the fields every entry has, and leaves the rest to a mailer given one', () => {
    const data = { providers: [{ provider: 'ses', mode: 'api', region: 'Ireland', limits: { maxRecipients: 5 } }] };
    expect(validateConfig(data).providers[0]).toMatchObject({ name: 'ses-api', region: 'Ireland' });
    expect(() =>
      validateConfig({ providers: [{ provider: 'ses', mode: 'api', limits: { maxRecipients: 0 } }] }),
    ).toThrow(/providers\[0\]\.limits\.maxRecipients/);
    expect(() => new Mailer(validateConfig(data), createAdapter, { providers: builtInProviders })).toThrow(
      /providers\[0\]\.region: must be an AWS region such as eu-west-1/,
    );
  });

  it('refuses a secret written in clear and asks for a reference', () => {
    const issues = configIssues(`
providers:
  - provider: oci
    mode: smtp
    region: eu-frankfurt-1
    smtpCredentials: { username: { env: OCI_USER }, password: "hunter2-in-clear" }
`);
    expect(issues).toEqual([
      {
        path: 'providers[0].smtpCredentials.password',
        message: 'a secret must be a reference such as { env: "VARIABLE" }, never the value itself',
      },
    ]);
  });

  it('reports missing secret variables by field and never prints a resolved value', () => {
    const config = parseConfig(`
providers:
  - name: oci
    provider: oci
    mode: smtp
    region: eu-frankfurt-1
    smtpCredentials: { username: { env: OCI_USER }, password: { env: OCI_PASS } }
`);
    expect(missingSecrets(config, { OCI_USER: 'u' })).toEqual([
      { path: 'providers[0].smtpCredentials.password', message: 'environment variable OCI_PASS is not set' },
    ]);
    const secret = 'very-secret-password-123';
    expect(resolveSecret({ env: 'OCI_PASS' }, 'password', { OCI_PASS: secret })).toBe(secret);
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).toContain('OCI_PASS');
    expect(printed).not.toContain(secret);
    // Once resolved, the value is scrubbed from any error text, even when a provider echoes it back.
    const error = new ProviderUnavailableError(`server said: bad password ${secret}`, { cause: new Error(secret) });
    expect(JSON.stringify(error.toJSON())).not.toContain(secret);
    expect(error.message).toContain('[REDACTED]');
  });

  it('throws a ConfigurationError naming the variable when a secret is missing', () => {
    expect(() => resolveSecret({ env: 'NOPE_NOT_SET' }, 'providers[0].accessKey', {})).toThrow(
      /providers\[0\]\.accessKey: environment variable NOPE_NOT_SET is not set/,
    );
  });
});

describe('store: redis', () => {
  const withStore = (store: string) => `providers:\n  - { provider: local, mode: api }\nstore: ${store}\n`;

  it('takes the URL as a secret reference, with an optional key prefix', () => {
    expect(parseConfig(withStore('{ type: redis, url: { env: REDIS_URL } }')).store).toEqual({
      type: 'redis',
      url: { env: 'REDIS_URL' },
    });
    const config = parseConfig(withStore('{ type: redis, url: { env: REDIS_URL }, keyPrefix: "shop:" }'));
    expect(config.store).toEqual({ type: 'redis', url: { env: 'REDIS_URL' }, keyPrefix: 'shop:' });
    expect(missingSecrets(config, {})).toEqual([
      { path: 'store.url', message: 'environment variable REDIS_URL is not set' },
    ]);
  });

  it('refuses a URL written in clear, without repeating it', () => {
    const issues = configIssues(withStore('{ type: redis, url: "redis://:hunter2-in-clear@10.0.0.3:6379" }'));
    expect(issues).toEqual([
      {
        path: 'store.url',
        message: 'a secret must be a reference such as { env: "VARIABLE" }, never the value itself',
      },
    ]);
    expect(JSON.stringify(issues)).not.toContain('hunter2');
  });

  it('refuses an unknown field, naming it', () => {
    const issues = configIssues(withStore('{ type: redis, url: { env: REDIS_URL }, tableName: state }'));
    expect(issues).toEqual([{ path: 'store.tableName', message: 'unknown field (known: type, url, keyPrefix)' }]);
    expect(configIssues(withStore('{ type: redis, url: { env: REDIS_URL }, keyPrefix: "" }'))[0]?.path).toBe(
      'store.keyPrefix',
    );
  });
});

describe('configuration mistakes in words', () => {
  const issuesOf = (data: unknown) => {
    try {
      validateConfig(data, 'test', builtInProviders);
    } catch (error) {
      return (error as ConfigurationError).issues;
    }
    throw new Error('expected the configuration to be refused');
  };
  const ses = { provider: 'ses', mode: 'api', region: 'eu-west-1' };

  it('names an unknown provider with the known ones, and a missing one', () => {
    expect(issuesOf({ providers: [{ provider: 'sess', mode: 'api' }] })).toEqual([
      { path: 'providers[0].provider', message: 'unknown provider "sess" (known: local, ses, azure, gmail, oci)' },
    ]);
    expect(issuesOf({ providers: [{ mode: 'api' }] })).toEqual([
      { path: 'providers[0].provider', message: 'is required (known: local, ses, azure, gmail, oci)' },
    ]);
    expect(issuesOf({ providers: [{ provider: 5, mode: 'api' }] })).toEqual([
      { path: 'providers[0].provider', message: 'must be one of local, ses, azure, gmail, oci, not 5' },
    ]);
  });

  it('says which field a misspelt one meant, at any depth', () => {
    expect(
      issuesOf({
        providers: [
          { ...ses, regoin: 'x' },
          { provider: 'oci', mode: 'smtp', region: 'eu-frankfurt-1', smtp: { hots: 'smtp.example.com' } },
        ],
        routes: [{ name: 'main', providers: ['ses-api'], sendrDomains: ['example.com'] }],
        defaultProvidr: 'ses-api',
      }),
    ).toEqual(
      expect.arrayContaining([
        { path: 'providers[0].regoin', message: 'unknown field (did you mean "region"?)' },
        { path: 'providers[1].smtp.hots', message: 'unknown field (did you mean "host"?)' },
        { path: 'routes[0].sendrDomains', message: 'unknown field (did you mean "senderDomains"?)' },
        { path: 'defaultProvidr', message: 'unknown field (did you mean "defaultProvider"?)' },
      ]),
    );
  });

  it("lists the fields known there when nothing is close, from the entry's own provider", () => {
    const credentials = { accessKeyId: { env: 'A' }, secretAccessKey: { env: 'B' }, colour: 'red' };
    const [issue] = issuesOf({ providers: [{ ...ses, credentials }] });
    expect(issue).toEqual({
      path: 'providers[0].credentials.colour',
      message: 'unknown field (known: accessKeyId, secretAccessKey, sessionToken)',
    });
    // An azure entry's fields, not the union of every provider's.
    const [azure] = issuesOf({ providers: [{ provider: 'azure', mode: 'api', regoin: 'x' }] });
    expect(azure?.path).toBe('providers[0].regoin');
    expect(azure?.message).toMatch(/^unknown field \(known: .*connectionString/);
    expect(azure?.message).not.toMatch(/compartmentId/);
  });

  it('names the values a field may take, with the one meant', () => {
    expect(issuesOf({ providers: [{ ...ses, mode: 'ap' }] })).toEqual([
      { path: 'providers[0].mode', message: 'must be one of smtp, api, not "ap" (did you mean "api"?)' },
    ]);
  });
});
