import { describeSecretRef, isCloudSecretRef } from '../../core/config/secret-values.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { instanceLog } from './log.ts';
import { tableStore } from './storage.ts';

// The mailer's modules (the configuration's schema, createMailer and the providers' descriptors) load with the
// first invocation, which builds the mailer: nothing of them is needed before.
const mailerModule = () => import('../../create-mailer.ts');

/** What an app setting holds when the platform could not resolve its Key Vault reference (no access, no secret). */
const UNRESOLVED_KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

const unresolved = (setting: string) =>
  `app setting ${setting} is a Key Vault reference the platform could not resolve: give the app's identity Key Vault Secrets User on the vault, check the secret exists, then restart the app`;
const notOnAzure =
  'cannot be read on Azure: put the secret in Key Vault and use { env: NAME } with the app setting NAME = @Microsoft.KeyVault(SecretUri=...)';

/**
 * The instance's mailer (core/runtime/mailer-once.ts): the `MAILROUTE_CONFIG` app setting (JSON or YAML, secret
 * references only; may itself be a Key Vault reference), the state table `MAILROUTE_STORE_TABLE`. Secrets are
 * `{ env: NAME }`, where the app setting NAME is a Key Vault reference (`@Microsoft.KeyVault(SecretUri=...)`) that
 * the platform resolves into the environment before the worker starts: the cold start refuses, naming each field,
 * AWS and OCI references and the Key Vault references the platform left unresolved.
 */
export const mailer = mailerOnce({
  config: (env) => {
    if (!UNRESOLVED_KEY_VAULT_REFERENCE.test(env.MAILROUTE_CONFIG ?? '')) return routingConfig(env);
    const message = unresolved('MAILROUTE_CONFIG');
    throw new ConfigurationError(`MAILROUTE_CONFIG: ${message}`, { issues: [{ path: 'MAILROUTE_CONFIG', message }] });
  },
  adjust: (config, env) =>
    env.MAILROUTE_STORE_TABLE ? { ...config, store: tableStore(env.MAILROUTE_STORE_TABLE, env) } : config,
  secrets: async (config, env) =>
    (await import('../../core/config/secret-loader.ts')).refuseSecretRefs(config, (ref) => {
      if (isCloudSecretRef(ref)) return `${describeSecretRef(ref)} ${notOnAzure}`;
      return UNRESOLVED_KEY_VAULT_REFERENCE.test(env[ref.env] ?? '') ? unresolved(ref.env) : undefined;
    }),
  create: async (config, options) => (await mailerModule()).createMailer(config, options),
  dnsCheck: (config, logger, env) => mailerModule().then((m) => m.coldStartDnsCheck(config, logger, env)),
  logger: instanceLog.mailer,
});
