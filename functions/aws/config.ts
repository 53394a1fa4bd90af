import type { Context } from 'aws-lambda';
import type { MailrouteConfig } from '../../core/config/config.ts';
import { loadCloudSecrets } from '../../core/config/secret-loader.ts';
import { isCloudSecretRef, secretRefsIn } from '../../core/config/secret-refs.ts';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { coldStartDnsCheck, createMailer } from '../../index.ts';
import { log } from './log.ts';
import { parameterOf, parameters, prefetchConfig, readConfigParameter } from './ssm.ts';

prefetchConfig();

const configParameter = {
  setting: 'MAILROUTE_CONFIG_SSM',
  describe: (name: string) => `SSM parameter ${name}`,
  read: readConfigParameter,
};

/**
 * The container's mailer (core/runtime/mailer-once.ts): `MAILROUTE_CONFIG`, else the SSM parameter
 * `MAILROUTE_CONFIG_SSM`; the state table `MAILROUTE_STORE_TABLE`; every `{ ssm }` and `{ secretsManager }` secret
 * read once. `{ env }` references work too, with a warning; another cloud's stay unresolved, and the entry that
 * uses one fails naming its field.
 */
export const mailer = mailerOnce({
  config: (env) => routingConfig(env, configParameter),
  adjust: (config, env) => withStateTable(config, env.MAILROUTE_STORE_TABLE),
  secrets: async (config) => {
    const fromEnv = secretRefsIn(config).flatMap((r) => (isCloudSecretRef(r.ref) ? [] : [r.path]));
    if (fromEnv.length)
      log.warn('secrets read from the environment; prefer { ssm } or { secretsManager }', { fromEnv });
    await loadCloudSecrets(config, parameterOf, parameters, { firstIssueOnly: true });
  },
  create: createMailer,
  dnsCheck: coldStartDnsCheck,
  logger: log.mailer,
});

/** The DynamoDB table for idempotency, shared health and rate limits: it overrides the configuration's `store`. */
function withStateTable(config: MailrouteConfig, tableName: string | undefined): MailrouteConfig {
  if (!tableName) return config;
  const given = config.store?.type === 'dynamodb' ? config.store : {};
  return { ...config, store: { ...given, type: 'dynamodb', tableName } };
}

/** When Lambda stops waiting for the answer: now plus the context's remaining time. */
export const endOf = (context: Context) => () => Date.now() + context.getRemainingTimeInMillis();
