/**
 * mailroute: one send interface for email over Amazon SES, Azure Communication Email, Gmail and OCI Email
 * Delivery, in SMTP or API mode. With no configuration, `send()` delivers to the local capture inbox.
 *
 * @example
 * import { send } from 'mailroute';
 * const result = await send({ from: 'app@example.com', to: 'you@example.com', subject: 'Hi', text: 'Hello' });
 */
import type { SendResult } from './core/adapter.ts';
import { loadConfig, type MailrouteConfig, resolveSecret } from './core/config.ts';
import { Mailer, type MailerOptions, type SendOptions } from './core/mailer.ts';
import { createAdapter } from './providers/index.ts';
import { createStore } from './stores/index.ts';

export * from './core/adapter.ts';
export * from './core/compose.ts';
export * from './core/config.ts';
export * from './core/errors.ts';
export * from './core/mailer.ts';
export * from './core/message.ts';
export * from './core/validate.ts';
export { createAdapter } from './providers/index.ts';
export { createStore } from './stores/index.ts';

/**
 * A mailer for a given configuration, or for the one `loadConfig()` finds (file, environment, or the default),
 * with the state store the configuration names (DynamoDB, Azure Table, Redis; else this process's memory).
 */
export async function createMailer(config?: MailrouteConfig, options: MailerOptions = {}): Promise<Mailer> {
  const cfg = config ?? loadConfig().config;
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
  return new Mailer(cfg, createAdapter, { ...options, ...(store ? { store, ownsStore: building } : {}) });
}

let defaultMailer: Promise<Mailer> | undefined;

/** Sends through a process-wide mailer built from the discovered configuration. Call `close()` when done. */
export async function send(message: unknown, options?: SendOptions): Promise<SendResult> {
  defaultMailer ??= createMailer();
  return (await defaultMailer).send(message, options);
}

/** Closes the process-wide mailer's connections and embedded servers, so the process can exit. */
export async function close(): Promise<void> {
  const mailer = defaultMailer;
  defaultMailer = undefined;
  await (await mailer)?.close();
}
