/**
 * mailroute: one send interface for email over Amazon SES, Azure Communication Email, Gmail and OCI Email
 * Delivery, in SMTP or API mode. With no configuration, `send()` delivers to the local capture inbox.
 *
 * @example
 * import { send } from 'mailroute';
 * const result = await send({ from: 'app@example.com', to: 'you@example.com', subject: 'Hi', text: 'Hello' });
 */

import * as config from './core/config/config.ts';
import { type MailrouteConfig, resolveSecret } from './core/config/config.ts';
import type { SendResult } from './core/contract/adapter.ts';
import type { ProviderRegistry } from './core/contract/provider-registry.ts';
import { Mailer, type MailerOptions, type SendOptions } from './core/mailer.ts';
import { messageSchemaFor } from './core/message/message.ts';
import * as validate from './core/message/validate.ts';
import type { Logger } from './core/util/log.ts';
import { builtInProviders } from './providers/index.ts';
import { createStore } from './stores/index.ts';

export * from './core/config/config.ts';
export * from './core/contract/adapter.ts';
export * from './core/contract/provider-descriptor.ts';
export * from './core/contract/provider-registry.ts';
export * from './core/errors.ts';
export * from './core/mailer.ts';
export * from './core/message/compose.ts';
export * from './core/message/message.ts';
export * from './core/message/validate.ts';
export { builtInProviders, createAdapter } from './providers/index.ts';
export { createStore } from './stores/index.ts';

// The core's validation takes the provider registry as an argument; the package's own entry points default it to
// the built-in providers (these declarations take precedence over the `export *` of the same names above).

/** The configuration's schema, with the built-in providers' entries. */
export const configSchema = config.configSchemaFor(builtInProviders);
/** The message's schema, with the built-in providers' options. */
export const messageSchema = messageSchemaFor(builtInProviders);

/** Validates a configuration against the built-in providers (or the registry given), naming every wrong field. */
export function validateConfig(data: unknown, source?: string, providers: ProviderRegistry = builtInProviders) {
  return config.validateConfig(data, source, providers);
}

/** Parses configuration text (JSON or YAML) and validates it against the built-in providers. */
export function parseConfig(text: string, source?: string, providers: ProviderRegistry = builtInProviders) {
  return config.parseConfig(text, source, providers);
}

/** Finds and validates the configuration (see `core/config/config.ts`) against the built-in providers. */
export function loadConfig(options: Parameters<typeof config.loadConfig>[0] = {}) {
  return config.loadConfig({ ...options, providers: options.providers ?? builtInProviders });
}

/** Checks a message, its `providerOptions` against the built-in providers' options. */
export function validateMessage(input: unknown, providers: ProviderRegistry = builtInProviders) {
  return validate.validateMessage(input, providers);
}

/** Like `validateMessage`, but throws `InvalidMessageError` listing every problem. */
export function normalizeMessage(input: unknown, providers: ProviderRegistry = builtInProviders) {
  return validate.normalizeMessage(input, providers);
}

/**
 * A mailer for a given configuration, or for the one `loadConfig()` finds (file, environment, or the default),
 * with the state store the configuration names (DynamoDB, Azure Table, Redis; else this process's memory). The
 * configuration is checked against the built-in providers (or `options.providers`) when the mailer is built.
 */
export async function createMailer(given?: MailrouteConfig, options: MailerOptions = {}): Promise<Mailer> {
  const cfg = given ?? loadConfig().config;
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
  void import('./core/deliverability/cold-start.ts').then((m) =>
    m.coldStartDnsCheck(config, builtInProviders, logger, env),
  );
}

let defaultMailer: Promise<Mailer> | undefined;

/** Sends through a process-wide mailer built from the discovered configuration. Call `close()` when done. */
export async function send(message: unknown, options?: SendOptions): Promise<SendResult> {
  defaultMailer ??= createMailer();
  return (await defaultMailer).send(message, options);
}

/**
 * Makes `send()` use this mailer (a test mailer from `mailroute/testing`, one built with your own options), or,
 * with none, the one built from the discovered configuration again. The mailer it replaces is not closed.
 *
 * @example
 * const { mailer, outbox } = createTestMailer();
 * useMailer(mailer); // the code under test calls send()
 */
export function useMailer(mailer?: Mailer | Promise<Mailer>): void {
  defaultMailer = mailer === undefined ? undefined : Promise.resolve(mailer);
}

/** Closes the process-wide mailer's connections and embedded servers, so the process can exit. */
export async function close(): Promise<void> {
  const mailer = defaultMailer;
  defaultMailer = undefined;
  await (await mailer)?.close();
}
