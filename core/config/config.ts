import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { ConfigurationError, type FieldIssue } from '../errors.ts';
import { formatPath, valueAt } from '../message/paths.ts';
import { eventsFields } from './events-config.ts';
import { type CommonEntry, commonRequirements, openEntrySchema } from './provider-entry.ts';
import { routingFields, routingIssues } from './routing-config.ts';
import {
  type CloudSecretRef,
  describeSecretRef,
  isCloudSecretRef,
  providedSecret,
  type SecretRef,
  secretRef,
} from './secret-refs.ts';
import { registerSecret, SECRET_FIELD } from './secrets.ts';

export { type CloudSecretRef, type SecretRef, secretRef };

function configSchemaOf(entry: z.ZodType) {
  return z
    .object({
      providers: z.array(entry).min(1),
      defaultProvider: z.string().optional().describe('Name of the provider entry used when a send names none.'),
      outboxDir: z.string().optional().describe('Where the local capture inbox writes; default .mailroute/outbox.'),
      ...routingFields,
      ...eventsFields,
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

const CONFIG_FILES = ['mailroute.config.yaml', 'mailroute.config.yml', 'mailroute.config.json'];

export interface ConfigSource {
  config: MailrouteConfig;
  /** Where it came from: a file path, an environment variable, or "default". */
  source: string;
}

/**
 * Finds and validates the configuration: `--config FILE`, else `MAILROUTE_CONFIG` (JSON or YAML text), else
 * `MAILROUTE_CONFIG_FILE`, else `mailroute.config.{yaml,yml,json}` in the working directory, else the embedded
 * default (the local capture inbox).
 */
export function loadConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; cwd?: string; providers?: ProviderRegistry } = {},
): ConfigSource {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let text: string | undefined;
  let source = 'default';
  const file = options.file ?? env.MAILROUTE_CONFIG_FILE;
  if (options.file === undefined && env.MAILROUTE_CONFIG) {
    text = env.MAILROUTE_CONFIG;
    source = 'MAILROUTE_CONFIG';
  } else if (file) {
    const path = resolve(cwd, file);
    if (!existsSync(path)) throw new ConfigurationError(`configuration file ${path} does not exist`);
    text = readFileSync(path, 'utf8');
    source = path;
  } else {
    const found = CONFIG_FILES.map((f) => resolve(cwd, f)).find((p) => existsSync(p));
    if (found) {
      text = readFileSync(found, 'utf8');
      source = found;
    }
  }
  const config = text === undefined ? structuredClone(DEFAULT_CONFIG) : parseConfig(text, source, options.providers);
  if (env.MAILROUTE_OUTBOX) config.outboxDir = env.MAILROUTE_OUTBOX;
  return { config, source };
}

/** Parses configuration text (JSON or YAML) and validates it, naming every wrong field. */
export function parseConfig(text: string, source = 'configuration', providers?: ProviderRegistry): MailrouteConfig {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigurationError(`${source} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return validateConfig(data, source, providers);
}

/**
 * Validates a configuration, naming every wrong field. With a registry, each entry is checked against its
 * provider's descriptor (fields, then what its mode needs); without one, only the fields every entry has are,
 * and the rest is left for a registry to check (a Mailer given one checks it when built).
 */
export function validateConfig(data: unknown, source = 'configuration', providers?: ProviderRegistry): MailrouteConfig {
  const parsed = configSchemaFor(providers).safeParse(data);
  const issues: FieldIssue[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const literal =
        issue.code === 'invalid_type' && issue.expected === 'object' && typeof valueAt(data, issue.path) === 'string';
      issues.push({
        path: formatPath(issue.path),
        message: literal
          ? 'a secret must be a reference such as { env: "VARIABLE" }, never the value itself'
          : issue.message,
      });
    }
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

function configError(source: string, issues: FieldIssue[]): ConfigurationError {
  const text = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ConfigurationError(`invalid configuration in ${source}: ${text}`, { issues });
}

/** Reads a secret from where its reference points, registers it for redaction, and names the field when missing. */
export function resolveSecret(ref: SecretRef, field: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isCloudSecretRef(ref)) return providedCloudSecret(ref, field);
  const value = env[ref.env];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`${field}: environment variable ${ref.env} is not set`, {
      issues: [{ path: field, message: `environment variable ${ref.env} is not set` }],
    });
  }
  registerSecret(value);
  return value;
}

/** A cloud reference's value, which the function runtime must have read at cold start (`provideSecret`). */
function providedCloudSecret(ref: CloudSecretRef, field: string): string {
  const value = providedSecret(ref);
  if (value !== undefined) return value;
  const message = `${describeSecretRef(ref)} has not been read: cloud secrets are read at a function's cold start`;
  throw new ConfigurationError(`${field}: ${message}`, { issues: [{ path: field, message }] });
}

/** Every environment secret reference in a configuration whose variable is not set, as field issues. */
export function missingSecrets(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): FieldIssue[] {
  const out: FieldIssue[] = [];
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (typeof node !== 'object' || node === null) return;
    const ref = secretRef.safeParse(node);
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
      if (secretRef.safeParse(node).success) return node;
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, k)]));
    }
    if (typeof node === 'string' && SECRET_FIELD.test(key) && key !== 'ca') return '[REDACTED]';
    return node;
  };
  return walk(config, '');
}
