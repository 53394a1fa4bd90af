import { positiveIntSetting } from '../../core/config/env-settings.ts';
import type { MailrouteConfig } from '../../core/config/schema.ts';
import { describeSecretRef, isCloudSecretRef } from '../../core/config/secret-values.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { protectRedisUrl, withDeploymentStore } from '../../core/runtime/state-store.ts';
import { log } from './log.ts';

// The mailer's modules (the configuration's schema, createMailer and the providers' descriptors) load with the
// first invocation, which builds the mailer: nothing of them is needed before.
const mailerModule = () => import('../../create-mailer.ts');

/** The variable infra/gcp mounts the shared state store's Redis URL in (a Secret Manager secret). */
export const REDIS_URL_VARIABLE = 'MAILROUTE_STORE_REDIS_URL';
const NOT_READ =
  'is not read on Google Cloud: mount the secret with --set-secrets (secret_environment_variables) and use { env: NAME }';

/**
 * The instance's mailer (core/runtime/mailer-once.ts): `MAILROUTE_CONFIG`, the Redis store of
 * `MAILROUTE_STORE_REDIS_URL`. Cloud Functions mounts Secret Manager secrets as environment variables, so
 * `{ env: NAME }` is the reference to use: the cold start refuses any other, naming each field.
 */
export const mailer = mailerOnce({
  config: (env) => routingConfig(env),
  adjust: withRedisStore,
  secrets: async (config) =>
    (await import('../../core/config/secret-loader.ts')).refuseSecretRefs(config, (ref) =>
      isCloudSecretRef(ref) ? `${describeSecretRef(ref)} ${NOT_READ}` : undefined,
    ),
  create: async (config, options) => (await mailerModule()).createMailer(config, options),
  dnsCheck: (config, logger, env) => mailerModule().then((m) => m.coldStartDnsCheck(config, logger, env)),
  logger: log.mailer,
});

/** The store of the URL infra/gcp mounts, registered as a secret at once; a value not a Redis URL is not shown. */
function redisStore(url: string) {
  if (protectRedisUrl(url)) return { type: 'redis' as const, url: { env: REDIS_URL_VARIABLE } };
  const message = 'is not a redis:// or rediss:// URL (its value is not shown)';
  throw new ConfigurationError(`${REDIS_URL_VARIABLE} ${message}`, { issues: [{ path: REDIS_URL_VARIABLE, message }] });
}

/**
 * The deployment's shared state store: `MAILROUTE_STORE_REDIS_URL` (mounted from Secret Manager) becomes
 * `{ type: 'redis', url: { env } }` unless the configuration names a `store` of its own, which wins.
 */
export function withRedisStore(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): MailrouteConfig {
  return withDeploymentStore(config, REDIS_URL_VARIABLE, env, redisStore, log);
}

/** When Cloud Functions stops waiting, read at the invocation's start: `MAILROUTE_TIMEOUT_SECONDS` (default 60) on. */
export const functionEnd =
  (env = process.env) =>
  () =>
    Date.now() + positiveIntSetting(env, 'MAILROUTE_TIMEOUT_SECONDS', 60) * 1000;
