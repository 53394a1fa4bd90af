import { z } from 'zod';
import { commonEntryFields } from '../config/provider-entry.ts';
import type { MailrouteConfig, ProviderConfig } from '../config/schema.ts';
import { ConfigurationError, type FieldIssue } from '../errors.ts';
import type { Adapter, Mode } from './adapter.ts';
import type { ProviderDescriptor } from './provider-descriptor.ts';

/**
 * The providers a configuration may name and a message may give options to. It is injected, like the adapter
 * factory (`validateConfig(data, source, registry)`, `new Mailer(config, registry.createAdapter, { providers })`),
 * so `core/` names no provider: `providers/index.ts` builds the built-in one, and an application or a test may
 * build its own with more.
 *
 * @example
 * const providers = new ProviderRegistry([...builtInProviders.descriptors, carrierPigeon]);
 */
export class ProviderRegistry {
  readonly descriptors: readonly ProviderDescriptor[];
  /** A configuration entry: the common fields and its provider's own, unknown fields refused. */
  readonly entrySchema: z.ZodType;
  /** `providerOptions`: one strict object per provider, no other key. */
  readonly optionsSchema: z.ZodObject;
  private readonly byId = new Map<string, ProviderDescriptor>();

  constructor(descriptors: readonly ProviderDescriptor[]) {
    for (const d of descriptors) {
      if (this.byId.has(d.id)) throw new Error(`provider "${d.id}" is registered twice`);
      const clash = Object.keys(d.fields).find((f) => f in commonEntryFields || f === 'provider' || f === 'mode');
      if (clash) throw new Error(`provider "${d.id}" redefines "${clash}", a field every entry has`);
      if (Object.keys(d.modes).length === 0) throw new Error(`provider "${d.id}" has no mode`);
      this.byId.set(d.id, d);
    }
    if (descriptors.length === 0) throw new Error('a provider registry needs at least one provider');
    this.descriptors = descriptors;
    const ids = descriptors.map((d) => d.id).join(', ');
    const entries = descriptors.map((d) =>
      z
        .object({
          ...commonEntryFields,
          provider: z.literal(d.id),
          mode: z.enum(Object.keys(d.modes) as [Mode, ...Mode[]]),
          ...d.fields,
        })
        .strict(),
    );
    this.entrySchema = z.discriminatedUnion('provider', entries as [(typeof entries)[number]], {
      error: (issue) => (issue.code === 'invalid_union' ? `must be one of ${ids}` : undefined),
    });
    this.optionsSchema = z
      .object(Object.fromEntries(descriptors.map((d) => [d.id, d.options.strict().optional()])))
      .strict()
      .describe('Per-provider escape hatch, passed to that provider only; every option is checked before routing.');
  }

  get(id: string): ProviderDescriptor | undefined {
    return this.byId.get(id);
  }

  /** What the entry's mode needs of it, paths relative to the entry. */
  requirements(entry: ProviderConfig): FieldIssue[] {
    return this.get(entry.provider)?.requirements?.(entry as never) ?? [];
  }

  /** The adapter factory the Mailer takes: the entry's mode descriptor builds it. */
  readonly createAdapter = async (entry: ProviderConfig, config: MailrouteConfig): Promise<Adapter> => {
    const mode = this.get(entry.provider)?.modes[entry.mode];
    if (!mode) {
      const message = `has no ${entry.mode} mode here (providers: ${this.descriptors.map((d) => d.id).join(', ')})`;
      throw new ConfigurationError(`provider "${entry.provider}" ${message}`, {
        provider: entry.provider,
        mode: entry.mode,
        issues: [{ path: 'provider', message }],
      });
    }
    return mode.create(entry as never, config);
  };
}
