// The configuration's schema, its validation and the secrets it references: everything about a configuration but
// reading it from text or a file (config.ts, which adds YAML). A function given its configuration as JSON, or as an
// object, needs nothing more, and does not load a YAML parser.
import { z } from 'zod';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { ConfigurationError, type FieldIssue } from '../errors.ts';
import { formatPath, valueAt } from '../message/paths.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { eventsFields } from './events-config.ts';
import { httpFields } from './http-config.ts';
import { type CommonEntry, commonRequirements, openEntrySchema } from './provider-entry.ts';
import { routingFields, routingIssues } from './routing-config.ts';
import { type CloudSecretRef, type SecretRef, secretRef } from './secret-refs.ts';
import { SECRET_FIELD } from './secrets.ts';
import { sendersFields } from './senders-config.ts';
import { unsubscribeFields } from './unsubscribe-config.ts';

export { resolveSecret } from './secret-values.ts';
export { type CloudSecretRef, type SecretRef, secretRef };

/** zod's parse options for a schema used once or a few times: its compiled (JIT) fast path is not worth building. */
export const ONE_SHOT = { jitless: true } as const;

function configSchemaOf(entry: z.ZodType) {
  return z
    .object({
      providers: z.array(entry).min(1),
      defaultProvider: z.string().optional().describe('Name of the provider entry used when a send names none.'),
      outboxDir: z.string().optional().describe('Where the local capture inbox writes; default .mailroute/outbox.'),
      ...routingFields,
      ...sendersFields,
      ...eventsFields,
      ...unsubscribeFields,
      ...httpFields,
    })
    .strict();
}

const openConfigSchema = configSchemaOf(openEntrySchema);
const registrySchemas = new WeakMap<ProviderRegistry, typeof openConfigSchema>();

/** The configuration's schema: entries of the registry's providers, or (without one) open entries. */
export function configSchemaFor(providers?: ProviderRegistry): typeof openConfigSchema {
  if (!providers) return openConfigSchema;
  let schema = registrySchemas.get(providers);
  if (!schema) {
    schema = configSchemaOf(providers.entrySchema);
    registrySchemas.set(providers, schema);
  }
  return schema;
}

/** A provider entry: the fields every entry has, and its provider's own (typed by its descriptor). */
export type ProviderConfig = CommonEntry & { [field: string]: unknown };
export type MailrouteConfig = Omit<z.infer<typeof openConfigSchema>, 'providers'> & {
  providers: ProviderConfig[];
};

export const DEFAULT_CONFIG: MailrouteConfig = {
  providers: [{ name: 'local', provider: 'local', mode: 'smtp' }],
};

/**
 * Validates a configuration, naming every wrong field. With a registry, each entry is checked against its
 * provider's descriptor (fields, then what its mode needs); without one, only the fields every entry has are,
 * and the rest is left for a registry to check (a Mailer given one checks it when built).
 */
export function validateConfig(data: unknown, source = 'configuration', providers?: ProviderRegistry): MailrouteConfig {
  const schema = configSchemaFor(providers);
  // Without zod's compiled fast path: a configuration is parsed once or twice per process, and compiling the
  // parser of every object schema it holds costs more than it could save.
  const parsed = schema.safeParse(data, ONE_SHOT);
  const issues: FieldIssue[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) issues.push(...describeIssue(issue, data, schema));
    throw configError(source, issues);
  }
  const config = parsed.data as MailrouteConfig;
  const names = new Set<string>();
  config.providers.forEach((p, i) => {
    p.name ??= `${p.provider}-${p.mode}`;
    if (names.has(p.name)) {
      issues.push({ path: `providers[${i}].name`, message: `"${p.name}" is used by another provider entry` });
    }
    names.add(p.name);
    const needs = [...commonRequirements(p), ...(providers?.requirements(p) ?? [])];
    for (const issue of needs) issues.push({ path: `providers[${i}].${issue.path}`, message: issue.message });
  });
  issues.push(...routingIssues(config));
  if (config.defaultProvider && !names.has(config.defaultProvider)) {
    issues.push({ path: 'defaultProvider', message: `names no provider entry (have: ${[...names].join(', ')})` });
  }
  if (issues.length) throw configError(source, issues);
  return config;
}

/**
 * A schema issue as a sentence about the field: an unknown field with the one it most likely meant (or the fields
 * known there), an unknown provider (or store type) with the known ones, a value outside a list with the list, a
 * secret given as a literal value.
 */
function describeIssue(issue: z.core.$ZodIssue, data: unknown, schema: z.core.$ZodType): FieldIssue[] {
  const value = valueAt(data, issue.path);
  const at = (message: string, path = issue.path) => ({ path: formatPath(path), message });
  if (issue.code === 'unrecognized_keys') {
    const known = objectKeysAt(schema, data, issue.path);
    return issue.keys.map((key) => {
      const meant = didYouMean(key, known);
      const hint = meant ? `did you mean "${meant}"?` : known.length ? `known: ${known.join(', ')}` : '';
      return at(`unknown field${hint ? ` (${hint})` : ''}`, [...issue.path, key]);
    });
  }
  if (issue.code === 'invalid_union' && issue.discriminator && 'options' in issue && issue.options?.length) {
    const known = issue.options.map(String).join(', ');
    if (value === undefined) return [at(`is required (known: ${known})`)];
    if (typeof value === 'string') return [at(`unknown ${issue.discriminator} "${value}" (known: ${known})`)];
    return [at(`must be one of ${known}, not ${JSON.stringify(value)}`)];
  }
  if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
    const list = issue.values.join(', ');
    if (value === undefined) return [at(`is required: one of ${list}`)];
    const meant = typeof value === 'string' ? didYouMean(value, issue.values as string[]) : undefined;
    return [at(`must be one of ${list}, not ${JSON.stringify(value)}${meant ? ` (did you mean "${meant}"?)` : ''}`)];
  }
  if (issue.code === 'invalid_type' && issue.expected === 'object' && typeof value === 'string') {
    return [at('a secret must be a reference such as { env: "VARIABLE" }, never the value itself')];
  }
  return [at(issue.message)];
}

/** The fields the schema allows for the object at `path` of `data` (a union's: those of the options that fit). */
function objectKeysAt(schema: z.core.$ZodType, data: unknown, path: readonly PropertyKey[]): string[] {
  let schemas = fitting(schema, data);
  let node = data;
  for (const key of path) {
    node = valueAt(node, [key]);
    schemas = schemas.flatMap((s) => {
      const def = s._zod.def as SchemaDef;
      if (def.type === 'object') return def.shape?.[String(key)] ? fitting(def.shape[String(key)]!, node) : [];
      if (def.type === 'array' && def.element) return fitting(def.element, node);
      if (def.type === 'record' && def.valueType) return fitting(def.valueType, node);
      return [];
    });
  }
  const keys = schemas.flatMap((s) => Object.keys((s._zod.def as SchemaDef).shape ?? {}));
  return [...new Set(keys)];
}

/** What a `_zod.def` holds, for the kinds `objectKeysAt` walks through. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  getter?: () => z.core.$ZodType;
  options?: z.core.$ZodType[];
  discriminator?: string;
  left?: z.core.$ZodType;
  right?: z.core.$ZodType;
}

/** The object, array or other schemas a value is checked against: wrappers unwrapped, a union's fitting options. */
function fitting(schema: z.core.$ZodType, value: unknown): z.core.$ZodType[] {
  const def = schema._zod.def as SchemaDef;
  if (def.innerType) return fitting(def.innerType, value); // optional, nullable, default, catch, readonly...
  if (def.type === 'pipe' && def.in) return fitting(def.in, value);
  if (def.type === 'lazy' && def.getter) return fitting(def.getter(), value);
  if (def.type === 'intersection' && def.left && def.right) {
    return [...fitting(def.left, value), ...fitting(def.right, value)];
  }
  if (def.type === 'union' && def.options) {
    const all = def.options.flatMap((o) => fitting(o, value));
    const tag = def.discriminator;
    if (tag === undefined || typeof value !== 'object' || value === null) return all;
    const picked = all.filter((o) => {
      const field = (o._zod.def as SchemaDef).shape?.[tag];
      return field?._zod.values?.has((value as Record<string, unknown>)[tag] as never) ?? false;
    });
    return picked.length ? picked : all;
  }
  return [schema];
}

function configError(source: string, issues: FieldIssue[]): ConfigurationError {
  const text = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ConfigurationError(`invalid configuration in ${source}: ${text}`, { issues });
}

/** Every environment secret reference in a configuration whose variable is not set, as field issues. */
export function missingSecrets(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): FieldIssue[] {
  const out: FieldIssue[] = [];
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (typeof node !== 'object' || node === null) return;
    const ref = secretRef.safeParse(node, ONE_SHOT);
    if (ref.success) {
      // Cloud references are read by the function runtime at cold start, which names any that fails.
      if ('env' in ref.data && !env[ref.data.env])
        out.push({ path: formatPath(path), message: `environment variable ${ref.data.env} is not set` });
      return;
    }
    for (const [k, v] of Object.entries(node)) walk(v, [...path, Array.isArray(node) ? Number(k) : k]);
  };
  walk(config, []);
  return out;
}

/**
 * The configuration as it may be printed: references stay (they name a variable, not its value); any other
 * value under a secret-looking field is replaced, in case one slipped past the schema.
 */
export function redactConfig(config: MailrouteConfig): unknown {
  const walk = (node: unknown, key: string): unknown => {
    if (Array.isArray(node)) return node.map((v) => walk(v, key));
    if (typeof node === 'object' && node !== null) {
      if (secretRef.safeParse(node, ONE_SHOT).success) return node;
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, k)]));
    }
    if (typeof node === 'string' && SECRET_FIELD.test(key) && key !== 'ca') return '[REDACTED]';
    return node;
  };
  return walk(config, '');
}
