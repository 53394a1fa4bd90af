/**
 * mailroute: one send interface for email over Amazon SES, Azure Communication Email, Gmail and OCI Email
 * Delivery, in SMTP or API mode. With no configuration, `send()` delivers to the local capture inbox.
 *
 * @example
 * import { send } from 'mailroute';
 * const result = await send({ from: 'app@example.com', to: 'you@example.com', subject: 'Hi', text: 'Hello' });
 */

import * as config from './core/config/config.ts';
import type { SendResult } from './core/contract/adapter.ts';
import type { ProviderRegistry } from './core/contract/provider-registry.ts';
import type { Mailer, SendOptions } from './core/mailer.ts';
import { messageSchemaFor } from './core/message/message.ts';
import * as validate from './core/message/validate.ts';
import { createMailer } from './create-mailer.ts';
import { builtInProviders } from './providers/index.ts';

export * from './core/config/config.ts';
export * from './core/contract/adapter.ts';
export * from './core/contract/provider-descriptor.ts';
export * from './core/contract/provider-registry.ts';
export * from './core/errors.ts';
export * from './core/mailer.ts';
export * from './core/message/compose.ts';
export * from './core/message/message.ts';
export * from './core/message/validate.ts';
export { coldStartDnsCheck, createMailer } from './create-mailer.ts';
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
