import type { MailrouteConfig } from '../../core/config/schema.ts';
import { providedSecret } from '../../core/config/secret-values.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { protectRedisUrl, withDeploymentStore } from '../../core/runtime/state-store.ts';
import { log } from './log.ts';

/** The function configuration key infra/oci sets to the Vault secret holding the shared store's Redis URL. */
export const REDIS_URL_SECRET_VARIABLE = 'MAILROUTE_STORE_REDIS_URL_SECRET';

function redisStore(id: string) {
  if (/^ocid1\.vaultsecret\.[a-z0-9._-]+$/.test(id)) return { type: 'redis' as const, url: { ociVault: id } };
  const message = 'must be the OCID of an OCI Vault secret (ocid1.vaultsecret…) holding the Redis URL';
  const issues = [{ path: REDIS_URL_SECRET_VARIABLE, message }];
  throw new ConfigurationError(`${REDIS_URL_SECRET_VARIABLE} ${message}`, { issues });
}

/**
 * The deployment's shared state store: `MAILROUTE_STORE_REDIS_URL_SECRET` (a Vault secret OCID; infra/oci sets it)
 * becomes `{ type: 'redis', url: { ociVault } }`, read at cold start with the other Vault secrets, unless the
 * routing configuration names a `store` of its own, which wins.
 */
export function withRedisStore(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): MailrouteConfig {
  return withDeploymentStore(config, REDIS_URL_SECRET_VARIABLE, env, redisStore, log);
}

/**
 * The Redis URL read from Vault: its password is registered for redaction too (the whole URL already is), and a
 * value that is not a `redis://` or `rediss://` URL is refused without being echoed.
 */
export function checkRedisUrl(config: MailrouteConfig): void {
  const store = config.store;
  const id = store?.type === 'redis' && 'ociVault' in store.url ? store.url.ociVault : undefined;
  const url = id === undefined ? undefined : providedSecret({ ociVault: id });
  if (url === undefined || protectRedisUrl(url)) return;
  const message = `OCI Vault secret ${id} is not a redis:// or rediss:// URL (its value is not shown)`;
  throw new ConfigurationError(`store.url: ${message}`, { issues: [{ path: 'store.url', message }] });
}
