import type { MailrouteConfig } from '../config/schema.ts';
import { registerSecret } from '../config/secrets.ts';
import type { Logger } from '../util/log.ts';

type StoreConfig = NonNullable<MailrouteConfig['store']>;

/**
 * The state store a deployment provides through one setting (infra/gcp mounts a Redis URL, infra/oci names a
 * Vault secret holding one), unless the configuration names a `store` itself, which wins (logged, naming the
 * setting ignored). `storeOf` checks the setting's value first, even when it is then ignored, and throws a
 * `ConfigurationError` naming the setting, never echoing a secret value. An unset or blank setting changes nothing.
 */
export function withDeploymentStore(
  config: MailrouteConfig,
  setting: string,
  env: NodeJS.ProcessEnv,
  storeOf: (value: string) => StoreConfig,
  log: Logger,
): MailrouteConfig {
  const value = env[setting]?.trim();
  if (!value) return config;
  const store = storeOf(value);
  if (!config.store) return { ...config, store };
  log.info('state store named by the configuration', { type: config.store.type, ignored: setting });
  return config;
}

/**
 * Registers a Redis URL and its password (as written and percent-decoded) as secrets, so no log line or error shows
 * them; true when it is a `redis://` or `rediss://` URL. The parser's own error, which carries the input, is
 * never passed on.
 */
export function protectRedisUrl(url: string): boolean {
  registerSecret(url);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.password) {
    registerSecret(parsed.password);
    try {
      registerSecret(decodeURIComponent(parsed.password));
    } catch {
      // not percent-encoded text: the raw form is registered
    }
  }
  return parsed.protocol === 'redis:' || parsed.protocol === 'rediss:';
}
