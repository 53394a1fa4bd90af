import type { Context } from '@fnproject/fdk';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { log } from './log.ts';
import { checkRedisUrl, withRedisStore } from './store.ts';
import { vaultReader } from './vault.ts';

// The mailer's modules (the configuration's schema, the secret references, createMailer and the providers'
// descriptors) load with the first invocation, which builds the mailer: nothing of them is needed before.
const mailerModule = () => import('../../create-mailer.ts');
const secretModules = () =>
  Promise.all([import('../../core/config/secret-refs.ts'), import('../../core/config/secret-loader.ts')]);

const configSecret = {
  setting: 'MAILROUTE_CONFIG_OCI_VAULT',
  describe: (id: string) => `OCI Vault secret ${id}`,
  read: (id: string, env: NodeJS.ProcessEnv) => vaultReader(env)(id),
};

/**
 * The container's mailer (core/runtime/mailer-once.ts): `MAILROUTE_CONFIG`, or the Vault secret
 * `MAILROUTE_CONFIG_OCI_VAULT` names; the Redis store of `MAILROUTE_STORE_REDIS_URL_SECRET`; every `{ ociVault }`
 * secret read once. AWS references are reported; the provider entry that uses one fails naming its field.
 */
export const mailer = mailerOnce({
  config: (env) => routingConfig(env, configSecret),
  adjust: withRedisStore,
  secrets: async (config, env) => {
    const [{ secretRefsIn }, { loadCloudSecrets }] = await secretModules();
    const foreign = secretRefsIn(config).filter(({ ref }) => 'ssm' in ref || 'secretsManager' in ref);
    if (foreign.length) log.warn('secrets an OCI function cannot read', { fields: foreign.map((r) => r.path) });
    await loadCloudSecrets(config, (ref) => ('ociVault' in ref ? ref.ociVault : undefined), vaultReader(env));
    checkRedisUrl(config);
  },
  create: async (config, options) => (await mailerModule()).createMailer(config, options),
  dnsCheck: (config, logger, env) => mailerModule().then((m) => m.coldStartDnsCheck(config, logger, env)),
  logger: log.mailer,
});

/** When Fn stops waiting for the answer: `Fn-Deadline`; 30 s from now without one (Fn's default timeout). */
export const fnEnd = (context: Pick<Context, 'deadline'>) => () => {
  const end = context.deadline?.getTime();
  return end !== undefined && Number.isFinite(end) ? end : Date.now() + 30_000;
};
