import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validateConfig } from '../../core/config/config.ts';
import {
  type Adapter,
  type AdapterSendResult,
  ALL_CAPABILITIES,
  type Capabilities,
} from '../../core/contract/adapter.ts';
import { defineProvider, type ProviderEntry } from '../../core/contract/provider-descriptor.ts';
import { optionsFor } from '../../core/contract/provider-options.ts';
import { ProviderRegistry } from '../../core/contract/provider-registry.ts';
import { ConfigurationError, InvalidMessageError, ProviderUnavailableError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { messageJsonSchema } from '../../core/message/json-schema.ts';
import { builtInProviders } from '../../providers/index.ts';

// The acceptance test of the provider descriptor: a sixth provider, written here and not in providers/, joins the
// built-in ones through a registry of its own, with nothing in core/ edited. It has a config field of its own
// (`loft`, and `ring` that its mode requires), one option (`priority`) and an API mode whose adapter records what
// it was given.

const pigeonFields = { loft: z.string().min(1).describe('Where the birds live.'), ring: z.string().optional() };
type PigeonConfig = ProviderEntry<typeof pigeonFields>;
const pigeonOptions = z.object({ priority: z.enum(['normal', 'urgent']).optional() }).strict();
const PIGEON_API: Capabilities = { ...ALL_CAPABILITIES, tags: false, providerOptions: ['priority'] };

const carried: { name: string; loft: string; ring?: string; subject: string; priority?: string }[] = [];

class PigeonApiAdapter implements Adapter {
  readonly provider = 'pigeon';
  readonly mode = 'api' as const;
  readonly capabilities = PIGEON_API;
  readonly limits = { maxEncodedBytes: 64 * 1024, maxRecipients: 3 };
  readonly name: string;
  private readonly config: PigeonConfig;
  constructor(config: PigeonConfig) {
    this.name = config.name;
    this.config = config;
  }

  async send(prepared: PreparedMessage): Promise<AdapterSendResult> {
    if (this.config.loft === 'closed') {
      throw new ProviderUnavailableError('the loft is closed', { provider: this.provider, mode: this.mode });
    }
    const { priority } = optionsFor(prepared.message, 'pigeon', 'api', pigeonOptions);
    const { name, config } = this;
    carried.push({ name, loft: config.loft, ring: config.ring, subject: prepared.message.subject, priority });
    return { providerMessageId: `coo-${carried.length}`, accepted: prepared.envelope.to, rejected: [] };
  }

  async verify(): Promise<void> {}
  async close(): Promise<void> {}
}

const pigeon = defineProvider({
  id: 'pigeon',
  fields: pigeonFields,
  options: pigeonOptions,
  requirements: (entry) =>
    entry.ring ? [] : [{ path: 'ring', message: 'is required in api mode: the bird wears it' }],
  modes: {
    api: {
      capabilities: PIGEON_API,
      limits: { maxEncodedBytes: 64 * 1024, maxRecipients: 3 },
      create: async (entry) => new PigeonApiAdapter(entry),
    },
  },
});

const providers = new ProviderRegistry([...builtInProviders.descriptors, pigeon]);

const outbox = mkdtempSync(join(tmpdir(), 'mr-pigeon-'));
const configuration = {
  providers: [
    { name: 'down', provider: 'pigeon', mode: 'api', loft: 'closed', ring: 'r-0' },
    { name: 'north', provider: 'pigeon', mode: 'api', loft: 'north', ring: 'r-1' },
    { name: 'capture', provider: 'local', mode: 'api', outboxDir: outbox },
  ],
  routes: [
    { name: 'birds', providers: ['down', 'north'] },
    { name: 'backup', providers: ['down', 'capture'] },
  ],
  defaultRoute: 'birds',
  retry: { maxAttempts: 1 },
};
const message = (extra: Record<string, unknown> = {}) => ({
  from: 'loft@example.com',
  to: 'keeper@example.org',
  subject: 'coo',
  text: 'Coo.',
  ...extra,
});

function configIssues(data: unknown, registry = providers) {
  try {
    validateConfig(data, 'test', registry);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).issues;
  }
  throw new Error('expected the configuration to be refused');
}

describe('a sixth provider, registered from outside providers/', () => {
  let mailer: Mailer | undefined;
  afterEach(async () => {
    await mailer?.close();
    carried.length = 0;
  });
  const open = () => {
    mailer = new Mailer(validateConfig(configuration, 'test', providers), providers.createAdapter, { providers });
    return mailer;
  };

  it('has its configuration validated: its own fields, what its mode needs, its modes, unknown fields', () => {
    const entry = { provider: 'pigeon', mode: 'api', loft: 'north', ring: 'r-1' };
    expect(validateConfig({ providers: [entry] }, 'test', providers).providers[0]).toEqual({
      ...entry,
      name: 'pigeon-api',
    });
    expect(configIssues({ providers: [{ ...entry, loft: undefined }] })).toEqual([
      { path: 'providers[0].loft', message: 'Invalid input: expected string, received undefined' },
    ]);
    expect(configIssues({ providers: [{ ...entry, ring: undefined }] })).toEqual([
      { path: 'providers[0].ring', message: 'is required in api mode: the bird wears it' },
    ]);
    expect(configIssues({ providers: [{ ...entry, mode: 'smtp' }] }).map((i) => i.path)).toEqual(['providers[0].mode']);
    expect(configIssues({ providers: [{ ...entry, lofts: 'x' }] })).toEqual([
      { path: 'providers[0].lofts', message: 'unknown field (did you mean "loft"?)' },
    ]);
    // The built-in registry does not know it.
    expect(configIssues({ providers: [entry] }, builtInProviders)).toEqual([
      { path: 'providers[0].provider', message: 'unknown provider "pigeon" (known: local, ses, azure, gmail, oci)' },
    ]);
  });

  it('has its providerOptions checked before routing, even on a route without it', async () => {
    const send = open().send(message({ providerOptions: { pigeon: { priority: 'asap', speed: 9 } } }));
    await expect(send).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(send).rejects.toMatchObject({
      issues: [
        { path: 'providerOptions.pigeon.priority', message: expect.stringMatching(/normal.*urgent/) },
        { path: 'providerOptions.pigeon.speed', message: 'pigeon does not support the option "speed"' },
      ],
    });
    const viaBackup = open().send(message({ route: 'backup', providerOptions: { pigeon: { speed: 9 } } }));
    await expect(viaBackup).rejects.toMatchObject({ issues: [{ path: 'providerOptions.pigeon.speed' }] });
    expect(() => open().explain(message({ providerOptions: { pigeon: { speed: 9 } } }))).toThrow(
      'pigeon does not support the option "speed"',
    );
    expect(carried).toEqual([]);
    // The schema producers validate with lists its option, from its descriptor.
    const schema = JSON.parse(messageJsonSchema(providers)).properties.providerOptions.properties.pigeon;
    expect(schema).toMatchObject({
      properties: { priority: { enum: ['normal', 'urgent'] } },
      additionalProperties: false,
    });
  });

  it('takes a send through its route, failing over from a closed loft, with its option carried', async () => {
    const result = await open().send(message({ providerOptions: { pigeon: { priority: 'urgent' } } }));
    expect(result).toMatchObject({ name: 'north', provider: 'pigeon', mode: 'api', route: 'birds' });
    expect(result.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['down', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['north', 'sent', undefined],
    ]);
    expect(carried).toEqual([{ name: 'north', loft: 'north', ring: 'r-1', subject: 'coo', priority: 'urgent' }]);
    // From it to a built-in provider, which is not given the pigeon's options.
    const backup = await open().send(message({ route: 'backup', providerOptions: { pigeon: { priority: 'normal' } } }));
    expect(backup).toMatchObject({ name: 'capture', provider: 'local' });
  });

  it('is shown by explain: its route, its entries in order, their health', () => {
    const plan = open().explain(message());
    expect(plan).toMatchObject({ route: 'birds', candidates: [{ name: 'down' }, { name: 'north' }] });
    expect(Object.keys(plan.health)).toEqual(['down', 'north']);
  });
});
