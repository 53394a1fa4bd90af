import type { Context } from '@fnproject/fdk';
import { loadCloudSecrets } from '../../core/config/secret-loader.ts';
import { secretRefsIn } from '../../core/config/secret-refs.ts';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { coldStartDnsCheck, createMailer } from '../../index.ts';
import { log } from './log.ts';
import { checkRedisUrl, withRedisStore } from './store.ts';
import { vaultReader } from './vault.ts';

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
    const foreign = secretRefsIn(config).filter(({ ref }) => 'ssm' in ref || 'secretsManager' in ref);
    if (foreign.length) log.warn('secrets an OCI function cannot read', { fields: foreign.map((r) => r.path) });
    await loadCloudSecrets(config, (ref) => ('ociVault' in ref ? ref.ociVault : undefined), vaultReader(env));
    checkRedisUrl(config);
  },
  create: createMailer,
  dnsCheck: coldStartDnsCheck,
  logger: log.mailer,
});

/** When Fn stops waiting for the answer: `Fn-Deadline`; 30 s from now without one (Fn's default timeout). */
export const fnEnd = (context: Pick<Context, 'deadline'>) => () => {
  const end = context.deadline?.getTime();
  return end !== undefined && Number.isFinite(end) ? end : Date.now() + 30_000;
};
