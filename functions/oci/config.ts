import type { Context } from '@fnproject/fdk';
import { SecretsClient } from 'oci-secrets';
import { ociAuthFromEnv, ociClientConfiguration } from '../../client/oci-sdk.ts';
import { type MailrouteConfig, parseConfig } from '../../core/config.ts';
import { positiveIntSetting } from '../../core/env-settings.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { queueDeadlines } from '../../core/queue-batch.ts';
import { loadCloudSecrets } from '../../core/secret-loader.ts';
import { providedSecret, secretRefsIn } from '../../core/secret-refs.ts';
import { registerSecret } from '../../core/secrets.ts';
import { createMailer } from '../../index.ts';
import { log, mailerLogger } from './log.ts';

/** The function configuration key infra/oci sets to the Vault secret holding the shared store's Redis URL. */
export const REDIS_URL_SECRET_VARIABLE = 'MAILROUTE_STORE_REDIS_URL_SECRET';
const VAULT_SECRET_OCID = /^ocid1\.vaultsecret\.[a-z0-9._-]+$/;

let mailer: Promise<Mailer> | undefined;

/**
 * The mailer of this container, built at its first invocation: the configuration (`MAILROUTE_CONFIG`, or the
 * Vault secret `MAILROUTE_CONFIG_OCI_VAULT` names), every `{ ociVault }` secret read once, then the adapters.
 * A failed cold start is tried again by the next invocation.
 */
export function coldStart(env: NodeJS.ProcessEnv = process.env): Promise<Mailer> {
  mailer ??= buildMailer(env).catch((error: unknown) => {
    mailer = undefined;
    throw error;
  });
  return mailer;
}

async function buildMailer(env: NodeJS.ProcessEnv): Promise<Mailer> {
  const read = vaultReader(env);
  let config: MailrouteConfig;
  if (env.MAILROUTE_CONFIG) config = parseConfig(env.MAILROUTE_CONFIG, 'MAILROUTE_CONFIG');
  else if (env.MAILROUTE_CONFIG_OCI_VAULT) {
    const id = env.MAILROUTE_CONFIG_OCI_VAULT;
    const text = await read(id).catch((error: unknown) => {
      const message = `OCI Vault secret ${id} could not be read (${(error as Error).message})`;
      throw new ConfigurationError(`MAILROUTE_CONFIG_OCI_VAULT: ${message}`, {
        issues: [{ path: 'MAILROUTE_CONFIG_OCI_VAULT', message }],
      });
    });
    config = parseConfig(text, `OCI Vault secret ${id}`);
  } else throw new ConfigurationError('no configuration: set MAILROUTE_CONFIG or MAILROUTE_CONFIG_OCI_VAULT');
  config = withRedisStore(config, env);
  const foreign = secretRefsIn(config).filter(({ ref }) => 'ssm' in ref || 'secretsManager' in ref);
  if (foreign.length) log.warn('secrets an OCI function cannot read', { fields: foreign.map((r) => r.path) });
  await loadCloudSecrets(config, (ref) => ('ociVault' in ref ? ref.ociVault : undefined), read);
  checkRedisUrl(config);
  return createMailer(config, { logger: mailerLogger });
}

/**
 * The deployment's shared state store: when the function's configuration has `MAILROUTE_STORE_REDIS_URL_SECRET`
 * (a Vault secret OCID; infra/oci sets it) and the routing configuration names no `store` of its own,
 * `{ type: 'redis', url: { ociVault } }`, read at cold start with the other Vault secrets. A `store` in the
 * routing configuration wins.
 */
export function withRedisStore(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): MailrouteConfig {
  const id = env[REDIS_URL_SECRET_VARIABLE]?.trim();
  if (!id) return config;
  if (!VAULT_SECRET_OCID.test(id)) {
    const message = 'must be the OCID of an OCI Vault secret (ocid1.vaultsecret…) holding the Redis URL';
    throw new ConfigurationError(`${REDIS_URL_SECRET_VARIABLE} ${message}`, {
      issues: [{ path: REDIS_URL_SECRET_VARIABLE, message }],
    });
  }
  if (config.store) {
    log.info('state store named by the configuration', { type: config.store.type, ignored: REDIS_URL_SECRET_VARIABLE });
    return config;
  }
  return { ...config, store: { type: 'redis', url: { ociVault: id } } };
}

/**
 * The Redis URL read from Vault: its password is registered for redaction too (the whole URL already is), and a
 * value that is not a `redis://` or `rediss://` URL is refused without being echoed.
 */
function checkRedisUrl(config: MailrouteConfig): void {
  const store = config.store;
  const id = store?.type === 'redis' && 'ociVault' in store.url ? store.url.ociVault : undefined;
  const url = id === undefined ? undefined : providedSecret({ ociVault: id });
  if (url === undefined) return;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // The parser's error carries the input: it is not passed on.
  }
  if (parsed?.password) {
    registerSecret(parsed.password);
    try {
      registerSecret(decodeURIComponent(parsed.password));
    } catch {
      // not percent-encoded text: the raw form is registered
    }
  }
  if (parsed?.protocol !== 'redis:' && parsed?.protocol !== 'rediss:') {
    const message = `OCI Vault secret ${id} is not a redis:// or rediss:// URL (its value is not shown)`;
    throw new ConfigurationError(`store.url: ${message}`, { issues: [{ path: 'store.url', message }] });
  }
}

/**
 * Reads a Vault secret's CURRENT version as text, with the function's resource principal (or the API key of
 * `ociAuthFromEnv` outside OCI). The client is made on first use; `MAILROUTE_OCI_VAULT_ENDPOINT` overrides the
 * secrets endpoint, else the region comes from the resource principal or `MAILROUTE_OCI_REGION`.
 */
function vaultReader(env: NodeJS.ProcessEnv): (secretId: string) => Promise<string> {
  let client: SecretsClient | undefined;
  return async (secretId) => {
    client ??= secretsClient(env);
    const { secretBundle } = await client.getSecretBundle({ secretId });
    const content = secretBundle.secretBundleContent as { contentType?: string; content?: string } | undefined;
    if (content?.contentType !== 'BASE64') throw new Error(`unexpected content type ${content?.contentType}`);
    return Buffer.from(content.content ?? '', 'base64').toString('utf8');
  };
}

function secretsClient(env: NodeJS.ProcessEnv): SecretsClient {
  const client = new SecretsClient({ authenticationDetailsProvider: ociAuthFromEnv(env) }, ociClientConfiguration());
  if (env.MAILROUTE_OCI_VAULT_ENDPOINT) client.endpoint = env.MAILROUTE_OCI_VAULT_ENDPOINT;
  else if (env.MAILROUTE_OCI_REGION) client.regionId = env.MAILROUTE_OCI_REGION;
  else if (!env.OCI_RESOURCE_PRINCIPAL_VERSION) {
    throw new ConfigurationError('outside OCI Functions, set MAILROUTE_OCI_REGION (or MAILROUTE_OCI_VAULT_ENDPOINT)', {
      issues: [{ path: 'MAILROUTE_OCI_REGION', message: 'is not set' }],
    });
  }
  return client;
}

/**
 * Epoch ms by which a send must have answered: Fn's `Fn-Deadline` less a margin (`MAILROUTE_DEADLINE_MARGIN_MS`,
 * default 1000) for the failed-queue writes and the answer itself.
 */
export function deadlineOf(context: Pick<Context, 'deadline'>, env: NodeJS.ProcessEnv = process.env): number {
  return endOf(context) - positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000);
}

/**
 * A batch's two bounds: the send deadline (`deadlineOf`), and the failed-queue writes', half the margin later;
 * the other half is left for the answer, so a failed queue that does not answer fails the invocation (the batch
 * comes back) before `Fn-Deadline`.
 */
export function queueDeadlinesOf(context: Pick<Context, 'deadline'>, env: NodeJS.ProcessEnv = process.env) {
  return queueDeadlines(endOf(context), positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000));
}

/** `Fn-Deadline` in epoch ms; 30 s from now without one (Fn's default timeout). */
function endOf(context: Pick<Context, 'deadline'>): number {
  const end = context.deadline?.getTime();
  return end !== undefined && Number.isFinite(end) ? end : Date.now() + 30_000;
}
