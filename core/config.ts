import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigurationError, type FieldIssue } from './errors.ts';
import { formatPath, valueAt } from './paths.ts';
import { providerRoutingFields, routingFields, routingIssues } from './routing-config.ts';
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

const smtpSettings = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    secure: z.boolean().optional().describe('Implicit TLS (465); default: by port.'),
    ca: z.string().optional().describe('PEM text, or a path to a PEM file, of a CA to trust for a private relay.'),
    servername: z.string().optional().describe('TLS server name to verify, when host is an IP.'),
    ehloName: z.string().optional().describe('Name sent in EHLO.'),
    pool: z
      .object({
        maxConnections: z.number().int().min(1).max(100).optional(),
        maxMessages: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    connectionTimeoutMs: z.number().int().positive().optional(),
    greetingTimeoutMs: z.number().int().positive().optional(),
    socketTimeoutMs: z.number().int().positive().optional(),
    handshakeTimeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'Bound on connect, greeting, EHLO, STARTTLS and AUTH together (default 5000): a server that has not finished them has received nothing, so the send fails over at once.',
      ),
    dkim: z
      .object({
        domainName: z.string().min(1),
        keySelector: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a DNS label such as "mail2026"'),
        privateKey: secretRef,
      })
      .strict()
      .optional()
      .describe('Signs every message sent over SMTP with this DKIM key (PEM, from the secret).'),
  })
  .strict()
  .describe('SMTP endpoint override: host, port and TLS settings.');

const limits = z
  .object({
    maxEncodedBytes: z.number().int().positive().optional(),
    maxRecipients: z.number().int().positive().optional(),
  })
  .strict();

const common = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _')
    .optional()
    .describe('Unique name of this provider entry; default "<provider>-<mode>".'),
  mode: z.enum(['smtp', 'api']),
  endpoint: z.url().optional().describe('API base URL override (tests, private endpoints, sovereign clouds).'),
  smtp: smtpSettings.optional(),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'API mode: bound on setting up a connection (DNS, TCP, TLS; default 3000): a request that never had a connection was not sent.',
    ),
  limits: limits.optional(),
  ...providerRoutingFields,
};

const credentialPair = z.object({ username: secretRef, password: secretRef }).strict();

const localProvider = z.object({ ...common, provider: z.literal('local'), outboxDir: z.string().optional() }).strict();

const sesProvider = z
  .object({
    ...common,
    provider: z.literal('ses'),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
    configurationSet: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be at most 64 letters, digits, _ or -')
      .optional(),
    credentials: z
      .object({ accessKeyId: secretRef, secretAccessKey: secretRef, sessionToken: secretRef.optional() })
      .strict()
      .optional()
      .describe('IAM keys; API mode uses the default provider chain when absent; SMTP mode derives its password.'),
    smtpCredentials: credentialPair.optional().describe('SES SMTP username and password.'),
  })
  .strict();

const azureProvider = z
  .object({
    ...common,
    provider: z.literal('azure'),
    connectionString: secretRef.optional(),
    accessKey: secretRef.optional(),
    entra: z
      .object({ tenantId: z.string(), clientId: z.string(), clientSecret: secretRef })
      .strict()
      .optional()
      .describe('Entra application: the API token credential, and the SMTP username parts and password.'),
    resourceName: z.string().optional().describe('ACS resource name, for the SMTP username.'),
    smtpUsername: z.string().optional().describe('A named SMTP username, instead of resource|app|tenant.'),
    engagementTracking: z.boolean().optional(),
    waitForCompletion: z.boolean().optional(),
    pollTimeoutMs: z.number().int().positive().optional(),
    pollIntervalMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('API mode: poll interval when the service gives no retry-after; default 2000.'),
  })
  .strict();

const gmailProvider = z
  .object({
    ...common,
    provider: z.literal('gmail'),
    domain: z.string().optional().describe('Your Workspace domain, sent as the EHLO name to the relay.'),
    smtpAuth: z.enum(['none', 'password', 'xoauth2']).optional(),
    smtpCredentials: credentialPair.optional(),
    serviceAccount: z
      .object({
        clientEmail: z.string(),
        privateKey: secretRef,
        tokenUrl: z.url().optional().describe('OAuth token endpoint; default https://oauth2.googleapis.com/token.'),
      })
      .strict()
      .optional()
      .describe('Service account with domain-wide delegation (API mode and SMTP XOAUTH2).'),
    user: z.string().optional().describe('The Workspace user to send as (the JWT sub).'),
    lookup: z
      .boolean()
      .optional()
      .describe(
        "settle an ambiguous API send by looking its Message-ID up in the user's mailbox; needs https://www.googleapis.com/auth/gmail.readonly granted to the service account's domain-wide delegation",
      ),
  })
  .strict();

const ociProvider = z
  .object({
    ...common,
    provider: z.literal('oci'),
    region: z.string().min(1),
    compartmentId: z.string().optional(),
    smtpCredentials: credentialPair.optional(),
    auth: z.enum(['apiKey', 'resourcePrincipal']).optional(),
    apiKey: z
      .object({
        tenancy: z.string(),
        user: z.string(),
        fingerprint: z.string(),
        privateKey: secretRef,
        passphrase: secretRef.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const providerConfigSchema = z.discriminatedUnion('provider', [
  localProvider,
  sesProvider,
  azureProvider,
  gmailProvider,
  ociProvider,
]);

export const configSchema = z
  .object({
    providers: z.array(providerConfigSchema).min(1),
    defaultProvider: z.string().optional().describe('Name of the provider entry used when a send names none.'),
    outboxDir: z.string().optional().describe('Where the local capture inbox writes; default .mailroute/outbox.'),
    ...routingFields,
  })
  .strict();

export type ProviderConfig = z.infer<typeof providerConfigSchema> & { name: string };
export type MailrouteConfig = Omit<z.infer<typeof configSchema>, 'providers'> & { providers: ProviderConfig[] };

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
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): ConfigSource {
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
  const config = text === undefined ? structuredClone(DEFAULT_CONFIG) : parseConfig(text, source);
  if (env.MAILROUTE_OUTBOX) config.outboxDir = env.MAILROUTE_OUTBOX;
  return { config, source };
}

/** Parses configuration text (JSON or YAML) and validates it, naming every wrong field. */
export function parseConfig(text: string, source = 'configuration'): MailrouteConfig {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigurationError(`${source} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return validateConfig(data, source);
}

export function validateConfig(data: unknown, source = 'configuration'): MailrouteConfig {
  const parsed = configSchema.safeParse(data);
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
    for (const issue of modeRequirements(p))
      issues.push({ path: `providers[${i}].${issue.path}`, message: issue.message });
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

/** Fields that one provider needs in one mode, named so the user knows what to add. */
function modeRequirements(p: ProviderConfig): FieldIssue[] {
  const need = (path: string, message: string) => [{ path, message }];
  if (p.mode === 'smtp' && p.connectTimeoutMs !== undefined) {
    return need('connectTimeoutMs', 'is for api mode; in smtp mode use smtp.handshakeTimeoutMs');
  }
  switch (p.provider) {
    case 'ses':
      if (p.mode === 'smtp' && !p.smtpCredentials && !p.credentials) {
        return need('smtpCredentials', 'is required in smtp mode (or give credentials to derive the SMTP password)');
      }
      if (p.mode === 'smtp' && !p.smtpCredentials && p.credentials?.sessionToken) {
        return need(
          'credentials.sessionToken',
          'temporary credentials cannot sign in to SES SMTP: give smtpCredentials or long-term IAM keys',
        );
      }
      return [];
    case 'azure':
      if (p.mode === 'api' && !p.connectionString && !(p.endpoint && (p.accessKey || p.entra))) {
        return need('connectionString', 'is required in api mode (or endpoint with accessKey or entra)');
      }
      if (p.mode === 'smtp' && !p.entra)
        return need('entra', 'is required in smtp mode (its clientSecret is the password)');
      if (p.mode === 'smtp' && !p.smtpUsername && !p.resourceName) {
        return need('resourceName', 'is required in smtp mode to build the username (or give smtpUsername)');
      }
      return [];
    case 'gmail':
      if (p.mode === 'smtp' && p.lookup) return need('lookup', 'is only valid in api mode');
      if (p.mode === 'api' && !p.serviceAccount) return need('serviceAccount', 'is required in api mode');
      if (p.mode === 'api' && !p.user) return need('user', 'is required in api mode: the user to send as');
      if (p.mode === 'smtp' && (p.smtpAuth ?? 'none') === 'none' && !p.domain) {
        return need('domain', 'is required for the relay without SMTP AUTH: it is the EHLO name');
      }
      if (p.mode === 'smtp' && p.smtpAuth === 'password' && !p.smtpCredentials) {
        return need('smtpCredentials', 'is required with smtpAuth "password"');
      }
      if (p.mode === 'smtp' && p.smtpAuth === 'xoauth2' && !(p.serviceAccount && p.user)) {
        return need('serviceAccount', 'and user are required with smtpAuth "xoauth2"');
      }
      return [];
    case 'oci':
      if (p.mode === 'smtp' && !p.smtpCredentials) return need('smtpCredentials', 'is required in smtp mode');
      if (p.mode === 'api' && !p.compartmentId) return need('compartmentId', 'is required in api mode');
      if (p.mode === 'api' && (p.auth ?? 'apiKey') === 'apiKey' && !p.apiKey) {
        return need('apiKey', 'is required in api mode unless auth is "resourcePrincipal"');
      }
      return [];
    default:
      return [];
  }
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
