import type { Context } from 'aws-lambda';
import type { MailrouteConfig } from '../../core/config/schema.ts';
import { mailerOnce, routingConfig } from '../../core/runtime/mailer-once.ts';
import { log } from './log.ts';

// The mailer's modules (the configuration's schema, the secret references, createMailer and the providers'
// descriptors) load with the first invocation, which builds the mailer: nothing of them is needed before.
const mailerModule = () => import('../../create-mailer.ts');
const secretModules = () =>
  Promise.all([import('../../core/config/secret-refs.ts'), import('../../core/config/secret-loader.ts')]);

/** SSM through `@middy/ssm` (and the SSM client), loaded only when the configuration or a secret is read there. */
let ssmModule: Promise<typeof import('./ssm.ts')> | undefined;
const ssm = () => (ssmModule ??= import('./ssm.ts'));

// At INIT: the configuration parameter's read starts (middy prefetches), unless MAILROUTE_CONFIG is given.
if (!process.env.MAILROUTE_CONFIG && process.env.MAILROUTE_CONFIG_SSM) {
  ssm().then(
    (m) => m.prefetchConfig(),
    () => undefined, // the first invocation loads it again, and reports what fails
  );
}

const configParameter = {
  setting: 'MAILROUTE_CONFIG_SSM',
  describe: (name: string) => `SSM parameter ${name}`,
  read: async (name: string) => (await ssm()).readConfigParameter(name),
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
    const [{ isCloudSecretRef, secretRefsIn }, { loadCloudSecrets }] = await secretModules();
    const refs = secretRefsIn(config);
    const fromEnv = refs.flatMap((r) => (isCloudSecretRef(r.ref) ? [] : [r.path]));
    if (fromEnv.length)
      log.warn('secrets read from the environment; prefer { ssm } or { secretsManager }', { fromEnv });
    if (refs.some(({ ref }) => 'ssm' in ref || 'secretsManager' in ref)) {
      const { parameterOf, parameters } = await ssm();
      await loadCloudSecrets(config, parameterOf, parameters, { firstIssueOnly: true });
    }
  },
  create: async (config, options) => (await mailerModule()).createMailer(config, options),
  dnsCheck: (config, logger, env) => mailerModule().then((m) => m.coldStartDnsCheck(config, logger, env)),
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
