import { type MailrouteConfig, resolveSecret } from './core/config/schema.ts';
import { Mailer, type MailerOptions } from './core/mailer.ts';
import type { Logger } from './core/util/log.ts';
import { builtInProviders } from './providers/index.ts';
import { createStore } from './stores/index.ts';

// `createMailer` and the functions' cold-start check, re-exported by index.ts: what a cloud function needs of the
// package, without the rest of its entry (configuration files and YAML, the schemas built for every provider).

/**
 * A mailer for a given configuration, or for the one `loadConfig()` finds (file, environment, or the default),
 * with the state store the configuration names (DynamoDB, Azure Table, Redis; else this process's memory). The
 * configuration is checked against the built-in providers (or `options.providers`) when the mailer is built.
 */
export async function createMailer(given?: MailrouteConfig, options: MailerOptions = {}): Promise<Mailer> {
  // Only a mailer built without a configuration reads one (and loads the YAML parser to).
  const cfg = given ?? (await import('./core/config/config.ts')).loadConfig({ providers: builtInProviders }).config;
  let store = options.store;
  const building = !store && cfg.store !== undefined && cfg.store.type !== 'memory';
  if (!store && cfg.store && cfg.store.type !== 'memory') {
    const s = cfg.store;
    store = await createStore(
      s.type === 'azure-table'
        ? {
            type: 'azure-table',
            tableName: s.tableName,
            ...(s.endpoint ? { endpoint: s.endpoint } : {}),
            ...(s.connectionString
              ? { connectionString: resolveSecret(s.connectionString, 'store.connectionString') }
              : {}),
          }
        : s.type === 'redis'
          ? {
              type: 'redis',
              url: resolveSecret(s.url, 'store.url'),
              ...(s.keyPrefix === undefined ? {} : { keyPrefix: s.keyPrefix }),
            }
          : s,
    );
  }
  // A store built here is this mailer's own: closing the mailer closes its connections.
  const providers = options.providers ?? builtInProviders;
  return new Mailer(cfg, providers.createAdapter, {
    ...options,
    providers,
    ...(store ? { store, ownsStore: building } : {}),
  });
}

/**
 * A function's cold-start deliverability check (see `core/deliverability/cold-start.ts`): one warning line when a
 * route can reach a provider whose mail would fail DMARC; loaded and run in the background, never blocking a send.
 */
export function coldStartDnsCheck(config: MailrouteConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (env.MAILROUTE_DNS_CHECK === 'off') return;
  // Started a little after the mailer is built, so that loading the doctor (mailauth) and its DNS questions do not
  // share the CPU with the instance's first sends; unref'd, so it never keeps a process alive. On Lambda a frozen
  // instance runs it at its next invocation.
  const delay = Number(env.MAILROUTE_DNS_CHECK_DELAY_MS ?? 2000);
  setTimeout(
    () => {
      void import('./core/deliverability/cold-start.ts').then((m) =>
        m.coldStartDnsCheck(config, builtInProviders, logger, env),
      );
    },
    Number.isFinite(delay) && delay >= 0 ? delay : 2000,
  ).unref();
}
