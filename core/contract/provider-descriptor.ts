import type { z } from 'zod';
import type { CommonEntry } from '../config/provider-entry.ts';
import type { MailrouteConfig } from '../config/schema.ts';
import { ConfigurationError, type FieldIssue } from '../errors.ts';
import type { Adapter, Capabilities, Limits, Mode } from './adapter.ts';
import type { DeliverabilityDescriptor } from './deliverability.ts';

/** A validated entry of one provider: the fields every entry has, and the provider's own. */
export type ProviderEntry<Fields extends z.ZodRawShape> = CommonEntry & z.output<z.ZodObject<Fields>>;

/** One mode of a provider: what it carries, its limits, and how its adapter is built. */
export interface ModeDescriptor<Entry extends CommonEntry = CommonEntry> {
  /** What the mode can carry, `providerOptions` keys included; the core checks each message against it. */
  readonly capabilities: Capabilities;
  /** The provider's limits in this mode; an entry's `limits` lowers or raises them. */
  readonly limits: Limits;
  /** Builds the adapter: a lazy `import()` of the mode's file, so an SDK no entry uses is never loaded. */
  create(entry: Entry, config: MailrouteConfig): Promise<Adapter>;
}

/**
 * Everything the core knows of one provider, as data: adding a provider is a folder that exports one of these
 * and a line in the registry (`providers/index.ts`). The core validates configuration entries and a message's
 * `providerOptions` through it, and builds adapters with it; it never names a provider itself.
 */
export interface ProviderDescriptor<
  Fields extends z.ZodRawShape = z.ZodRawShape,
  Options extends z.ZodRawShape = z.ZodRawShape,
> {
  /** The `provider` value of its entries and its key in `providerOptions`. */
  readonly id: string;
  /** The entry's own fields, beside the common ones (name, mode, endpoint, smtp, limits, domains, rateLimits...). */
  readonly fields: Fields;
  /** What each mode needs of an entry that the schema alone cannot say: one issue per field, with its path. */
  requirements?(entry: ProviderEntry<Fields>): FieldIssue[];
  /** `providerOptions.<id>`, strict: a key it does not list is refused, naming the provider and the option. */
  readonly options: z.ZodObject<Options, z.core.$strict>;
  /** The modes it has; an entry may only name one of these. */
  readonly modes: Partial<Record<Mode, ModeDescriptor<ProviderEntry<Fields>>>>;
  /**
   * What the provider needs in DNS to send for a domain with an aligned DMARC pass (`mailroute doctor`): a lazy
   * `import()` of its `deliverability.ts`. Absent for a provider that sends nowhere (the local capture inbox).
   */
  readonly deliverability?: DeliverabilityDescriptor<ProviderEntry<Fields>>;
}

/** Types a descriptor, keeping its modes as given, so its adapters can read their limits from it. */
export function defineProvider<
  Fields extends z.ZodRawShape,
  Options extends z.ZodRawShape,
  Modes extends Partial<Record<Mode, ModeDescriptor<ProviderEntry<Fields>>>>,
>(
  descriptor: ProviderDescriptor<Fields, Options> & { readonly modes: Modes },
): ProviderDescriptor<Fields, Options> & { readonly modes: Modes } {
  return descriptor;
}

/**
 * For an adapter built from an entry that skipped validation (by hand, in code): a short internal error. A
 * configuration is validated first, and its message names the field to add.
 */
export function unvalidatedEntry(entry: CommonEntry, field: string): ConfigurationError {
  return new ConfigurationError(`${entry.name}: ${field} is missing (validate the configuration first)`, {
    provider: entry.provider,
    mode: entry.mode,
    issues: [{ path: field, message: `is required in ${entry.mode} mode` }],
  });
}
