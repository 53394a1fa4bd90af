import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { InvalidMessageError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { validateMessage } from '../../index.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// providerOptions of the built-in providers: every key is known to its provider or refused before routing, naming
// both; an option a mode cannot carry is refused by that entry (as a feature it lacks), never dropped.

const base = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };
const outbox = mkdtempSync(join(tmpdir(), 'mr-options-'));
const acsSmtp = {
  name: 'acs-smtp',
  provider: 'azure',
  mode: 'smtp',
  resourceName: 'contoso',
  entra: { tenantId: 't', clientId: 'c', clientSecret: { env: 'MR_OPTIONS_ACS_SECRET' } },
  // Never reached: the option is refused before this adapter is called.
  smtp: { host: '127.0.0.1', port: 9 },
};

describe('providerOptions of the built-in providers', () => {
  let mailer: Mailer | undefined;
  beforeAll(() => vi.stubEnv('MR_OPTIONS_ACS_SECRET', 'acs-secret-for-options-test'));
  afterAll(() => vi.unstubAllEnvs());
  afterEach(async () => mailer?.close());
  const open = (config: Record<string, unknown>) => {
    const providers = builtInProviders;
    mailer = new Mailer(validateConfig(config, 'test', providers), createAdapter, { providers });
    return mailer;
  };
  const local = { providers: [{ name: 'capture', provider: 'local', mode: 'api' }], outboxDir: outbox };
  const issuesOf = async (send: Promise<unknown>) => {
    const error = await send.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidMessageError);
    return (error as InvalidMessageError).issues;
  };

  it('refuses an option its provider does not have, or a provider there is not, before routing', async () => {
    const sent = readdirSync(outbox).length;
    expect(await issuesOf(open(local).send({ ...base, providerOptions: { gmail: { foo: 1 } } }))).toEqual([
      { path: 'providerOptions.gmail.foo', message: 'gmail does not support the option "foo"' },
    ]);
    for (const provider of ['local', 'oci']) {
      const issues = await issuesOf(open(local).send({ ...base, providerOptions: { [provider]: { x: true } } }));
      expect(issues).toEqual([
        { path: `providerOptions.${provider}.x`, message: `${provider} does not support the option "x"` },
      ]);
    }
    expect(await issuesOf(open(local).send({ ...base, providerOptions: { sess: {} } }))).toEqual([
      { path: 'providerOptions.sess', message: 'names no provider (have: local, ses, azure, gmail, oci)' },
    ]);
    expect(readdirSync(outbox)).toHaveLength(sent);
  });

  it('has a strict schema for every provider: one without options (gmail, oci, local) refuses any key, whatever it holds', async () => {
    const emails = () => readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;
    const sent = emails();
    const hostile = [1, 'x', null, [], { nested: { deeper: [1, { a: 2 }] } }, JSON.parse('{"__proto__":{"x":1}}')];
    for (const provider of ['gmail', 'oci', 'local']) {
      for (const value of hostile) {
        const issues = await issuesOf(open(local).send({ ...base, providerOptions: { [provider]: { opt: value } } }));
        expect(issues).toEqual([
          { path: `providerOptions.${provider}.opt`, message: `${provider} does not support the option "opt"` },
        ]);
      }
      // `__proto__` is a key like any other (JSON.parse makes it an own field), refused by name.
      const proto = JSON.parse(`{"${provider}":{"__proto__":{"polluted":true}}}`);
      expect(await issuesOf(open(local).send({ ...base, providerOptions: proto }))).toEqual([
        {
          path: `providerOptions.${provider}.__proto__`,
          message: `${provider} does not support the option "__proto__"`,
        },
      ]);
      await expect(open(local).send({ ...base, providerOptions: { [provider]: {} } })).resolves.toMatchObject({
        name: 'capture',
      });
    }
    // Every registered provider's options are strict, those with options included.
    for (const { id } of builtInProviders.descriptors) {
      expect(validateMessage({ ...base, providerOptions: { [id]: { notAnOption: true } } })).toEqual({
        ok: false,
        issues: [
          { path: `providerOptions.${id}.notAnOption`, message: `${id} does not support the option "notAnOption"` },
        ],
      });
    }
    // Only the three with empty options were sent.
    expect(emails()).toBe(sent + 3);
  });

  it('refuses options nested past the bounds of a message, naming the provider and the limit', () => {
    const deep = JSON.parse(`{"gmail":${'{"a":'.repeat(5_000)}{}${'}'.repeat(5_000)}}`);
    expect(validateMessage({ ...base, providerOptions: deep })).toEqual({
      ok: false,
      issues: [{ path: 'providerOptions.gmail', message: 'is nested deeper than the limit of 64 levels' }],
    });
  });

  it("checks a provider's options by shape whether or not it is on the route", async () => {
    const issues = await issuesOf(open(local).send({ ...base, providerOptions: { ses: { configurationSet: 'a b' } } }));
    expect(issues).toEqual([
      {
        path: 'providerOptions.ses.configurationSet',
        message: 'has an invalid format (must match /^[A-Za-z0-9_-]{1,64}$/)',
      },
    ]);
    const valid = { ses: { configurationSet: 'reports' }, azure: { engagementTracking: false } };
    await expect(open(local).send({ ...base, providerOptions: valid })).resolves.toMatchObject({ name: 'capture' });
  });

  it('is refused by an entry whose mode cannot carry it, and goes to one that can, never dropped', async () => {
    const config = {
      providers: [acsSmtp, ...local.providers],
      outboxDir: outbox,
      routes: [{ name: 'main', providers: ['acs-smtp', 'capture'] }],
    };
    const result = await open(config).send({ ...base, providerOptions: { azure: { engagementTracking: false } } });
    expect(result).toMatchObject({ name: 'capture' });
    expect(result.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['acs-smtp', 'skipped', 'UNSUPPORTED_FEATURE'],
      ['capture', 'sent', undefined],
    ]);
    const only = open({ providers: [acsSmtp] }).send({
      ...base,
      providerOptions: { azure: { engagementTracking: true } },
    });
    await expect(only).rejects.toMatchObject({
      code: 'UNSUPPORTED_FEATURE',
      message: 'azure does not support the option "engagementTracking" in smtp mode',
      path: 'providerOptions.azure.engagementTracking',
    });
  });

  it("are what the package's validateMessage checks, with the built-in providers by default", () => {
    expect(validateMessage({ ...base, providerOptions: { gmail: { foo: 1 } } })).toEqual({
      ok: false,
      issues: [{ path: 'providerOptions.gmail.foo', message: 'gmail does not support the option "foo"' }],
    });
    const listManagement = { contactListName: 'news;letter' };
    expect(validateMessage({ ...base, providerOptions: { ses: { listManagement } } })).toMatchObject({
      ok: false,
      issues: [{ path: 'providerOptions.ses.listManagement.contactListName' }],
    });
  });
});
