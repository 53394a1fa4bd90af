/**
 * mailroute: one send interface for email over Amazon SES, Azure Communication Email, Gmail and OCI Email
 * Delivery, in SMTP or API mode. With no configuration, `send()` delivers to the local capture inbox.
 *
 * @example
 * import { send } from 'mailroute';
 * const result = await send({ from: 'app@example.com', to: 'you@example.com', subject: 'Hi', text: 'Hello' });
 */
import type { SendResult } from './core/adapter.ts';
import { loadConfig, type MailrouteConfig } from './core/config.ts';
import { Mailer, type SendOptions } from './core/mailer.ts';
import { createAdapter } from './providers/index.ts';

export * from './core/adapter.ts';
export * from './core/compose.ts';
export * from './core/config.ts';
export * from './core/errors.ts';
export * from './core/mailer.ts';
export * from './core/message.ts';
export * from './core/validate.ts';
export { createAdapter } from './providers/index.ts';

/** A mailer for a given configuration, or for the one `loadConfig()` finds (file, environment, or the default). */
export function createMailer(config?: MailrouteConfig): Mailer {
  return new Mailer(config ?? loadConfig().config, createAdapter);
}

let defaultMailer: Mailer | undefined;

/** Sends through a process-wide mailer built from the discovered configuration. Call `close()` when done. */
export function send(message: unknown, options?: SendOptions): Promise<SendResult> {
  defaultMailer ??= createMailer();
  return defaultMailer.send(message, options);
}

/** Closes the process-wide mailer's connections and embedded servers, so the process can exit. */
export async function close(): Promise<void> {
  await defaultMailer?.close();
  defaultMailer = undefined;
}
