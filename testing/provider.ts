import { z } from 'zod';
import type { MailrouteConfig } from '../core/config/config.ts';
import {
  type Adapter,
  type AdapterSendResult,
  ALL_CAPABILITIES,
  type Capabilities,
  configuredLimits,
  type Limits,
  type Mode,
  type SendContext,
} from '../core/contract/adapter.ts';
import {
  defineProvider,
  type ModeDescriptor,
  type ProviderDescriptor,
  type ProviderEntry,
} from '../core/contract/provider-descriptor.ts';
import { ProviderRegistry } from '../core/contract/provider-registry.ts';
import type { PreparedMessage } from '../core/message/compose.ts';
import { builtInProviders } from '../providers/index.ts';
import { HAND_OVER, type RecordingEntry, type TestOutbox, VERIFY } from './outbox.ts';

/** The `provider` value of a test entry. */
export const TEST_PROVIDER = 'test';

/** Generous, like the capture inbox's: a test entry records what would be sent; an entry's `limits` lowers them. */
const TEST_LIMITS: Limits = { maxEncodedBytes: 50 * 1024 * 1024, maxRecipients: 1000 };

const capabilityFlags = z
  .object({
    attachments: z.boolean(),
    inlineImages: z.boolean(),
    tags: z.boolean(),
    customHeaders: z.boolean(),
    replyTo: z.boolean(),
    cc: z.boolean(),
    bcc: z.boolean(),
  })
  .partial()
  .strict();

/** A test entry's own field: what it lacks, to test how a route moves past an entry that cannot carry a message. */
export const testFields = {
  capabilities: capabilityFlags
    .optional()
    .describe('What this test entry can carry (default: everything), e.g. { tags: false }.'),
};

export type TestEntryConfig = ProviderEntry<typeof testFields>;

/** An adapter that hands every message to the outbox: recorded, or failed by a fault set there. */
export class RecordingAdapter implements Adapter {
  readonly name: string;
  readonly provider: string;
  readonly mode: Mode;
  readonly capabilities: Capabilities;
  readonly limits: Limits;
  private readonly outbox: TestOutbox;
  private readonly entry: RecordingEntry;

  constructor(outbox: TestOutbox, entry: RecordingEntry & { capabilities: Capabilities; limits: Limits }) {
    this.outbox = outbox;
    this.name = entry.name;
    this.provider = entry.provider;
    this.mode = entry.mode;
    this.capabilities = entry.capabilities;
    this.limits = entry.limits;
    this.entry = { name: entry.name, provider: entry.provider, mode: entry.mode };
  }

  send(prepared: PreparedMessage, _context: SendContext): Promise<AdapterSendResult> {
    return this.outbox[HAND_OVER](this.entry, prepared);
  }

  async verify(): Promise<void> {
    this.outbox[VERIFY](this.entry);
  }

  async close(): Promise<void> {}
}

/**
 * The `test` provider: entries `{ name, provider: 'test', mode: 'api' }` (or `smtp`, which composes the MIME as an
 * SMTP mode does) that record into the outbox. A real descriptor, registered beside the others.
 */
export function testProvider(outbox: TestOutbox) {
  const create = (mode: Mode) => async (entry: TestEntryConfig) =>
    new RecordingAdapter(outbox, {
      name: entry.name,
      provider: TEST_PROVIDER,
      mode,
      capabilities: { ...ALL_CAPABILITIES, ...entry.capabilities },
      limits: configuredLimits(TEST_LIMITS, entry.limits),
    });
  return defineProvider({
    id: TEST_PROVIDER,
    fields: testFields,
    options: z.object({}).strict(),
    modes: {
      api: { capabilities: ALL_CAPABILITIES, limits: TEST_LIMITS, create: create('api') },
      smtp: { capabilities: ALL_CAPABILITIES, limits: TEST_LIMITS, create: create('smtp') },
    },
  });
}

/**
 * The same provider, every mode recording instead of sending: its configuration fields, its requirements, its
 * `providerOptions`, its capabilities and limits (an entry's `limits` applied) stay as they are, so validation and
 * routing decide as in production; no SDK is loaded and no secret is read.
 */
export function recordingDescriptor(descriptor: ProviderDescriptor, outbox: TestOutbox): ProviderDescriptor {
  const modes: Partial<Record<Mode, ModeDescriptor<never>>> = {};
  for (const [mode, spec] of Object.entries(descriptor.modes) as [Mode, ModeDescriptor<never>][]) {
    modes[mode] = {
      capabilities: spec.capabilities,
      limits: spec.limits,
      create: async (entry: { name: string; limits?: Partial<Limits> }, _config: MailrouteConfig) =>
        new RecordingAdapter(outbox, {
          name: entry.name,
          provider: descriptor.id,
          mode,
          capabilities: spec.capabilities,
          limits: configuredLimits(spec.limits, entry.limits),
        }),
    };
  }
  return { ...descriptor, modes } as ProviderDescriptor;
}

/**
 * A provider registry for a mailer whose every entry records into the outbox: the given providers (default the
 * built-in ones) made recording, and the `test` provider. Give it to `createMailer(config, { providers })` or
 * `new Mailer(config, registry.createAdapter, { providers: registry })` where an application builds its own mailer.
 */
export function recordingProviders(outbox: TestOutbox, base: ProviderRegistry = builtInProviders): ProviderRegistry {
  // A registry that already has a provider named `test` is refused by the registry itself ("registered twice").
  const wrapped = base.descriptors.map((d) => recordingDescriptor(d, outbox));
  return new ProviderRegistry([...wrapped, testProvider(outbox) as unknown as ProviderDescriptor]);
}
