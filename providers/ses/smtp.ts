import { resolveSecret } from '../../core/config/schema.ts';
import { registerSecret } from '../../core/config/secrets.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { optionsFor } from '../../core/contract/provider-options.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { configuredLimits, SmtpAdapter } from '../smtp/adapter.ts';
import type { SmtpAuth } from '../smtp/engine.ts';
import { QUOTA_RETRY_MS, type ReplyRule } from '../smtp/reply-codes.ts';
import { engineSettings } from '../smtp/settings.ts';
import { checkOneUnsubscribe, type SesConfig, sesOptions } from './config.ts';
import { ses } from './index.ts';
import { sesSmtpPassword } from './smtp-password.ts';

/** SES drops a throttled message rather than queueing it; the daily quota must send the router elsewhere. */
export const SES_REPLY_RULES: readonly ReplyRule[] = [
  { match: /^454[ -].*Daily message quota exceeded/i, meaning: 'quota', retryAfterMs: QUOTA_RETRY_MS },
  { match: /^454[ -].*Throttling failure/i, meaning: 'throttled', retryAfterMs: 1_000 },
  // The sender identity is verified per region: another region or provider may have it.
  { match: /^554[ -].*not verified/i, meaning: 'sender' },
];

/** SES's final reply: "250 Ok <message id>", the id its API would have returned. */
const SES_REPLY_ID = /^250 Ok ([0-9a-f]+(?:-[0-9a-f]+)+)\s*$/i;

/**
 * Amazon SES over SMTP: `email-smtp.{region}.amazonaws.com`, STARTTLS on 587/2587 or TLS on 465/2465. The
 * configuration set, list management and the message tags travel as `X-SES-*` headers put on top of the composed
 * message.
 */
export class SesSmtpAdapter extends SmtpAdapter {
  constructor(config: SesConfig) {
    super({
      name: config.name,
      provider: 'ses',
      capabilities: ses.modes.smtp.capabilities,
      limits: configuredLimits(ses.modes.smtp.limits, config.limits),
      engine: {
        ...engineSettings('ses', config.smtp, { host: `email-smtp.${config.region}.amazonaws.com`, port: 587 }),
        auth: sesSmtpAuth(config),
        rules: SES_REPLY_RULES,
      },
      headersFor: (prepared) => sesHeaders(prepared, config.configurationSet),
      messageIdFrom: (response) => SES_REPLY_ID.exec(response)?.[1],
    });
  }
}

/** SMTP credentials as given, or the IAM access key id with the password derived for this region. */
function sesSmtpAuth(config: SesConfig): SmtpAuth {
  if (config.smtpCredentials) {
    return {
      user: resolveSecret(config.smtpCredentials.username, 'smtpCredentials.username'),
      pass: resolveSecret(config.smtpCredentials.password, 'smtpCredentials.password'),
    };
  }
  if (!config.credentials) throw unvalidatedEntry(config, 'smtpCredentials');
  const pass = sesSmtpPassword(
    resolveSecret(config.credentials.secretAccessKey, 'credentials.secretAccessKey'),
    config.region,
  );
  registerSecret(pass);
  return { user: resolveSecret(config.credentials.accessKeyId, 'credentials.accessKeyId'), pass };
}

/**
 * The `X-SES-*` headers SES's SMTP interface reads: the configuration set (the message's option over the entry's),
 * list management as `<contact list>[; topic=<topic>]`, and the tags as `name=value` pairs.
 */
export function sesHeaders(prepared: PreparedMessage, configured: string | undefined): string[] {
  const options = optionsFor(prepared.message, 'ses', 'smtp', sesOptions);
  checkOneUnsubscribe(prepared.message, options, 'smtp');
  const { configurationSet = configured, listManagement } = options;
  const lines: string[] = [];
  if (configurationSet) lines.push(`X-SES-CONFIGURATION-SET: ${configurationSet}`);
  if (listManagement) {
    const { contactListName, topicName } = listManagement;
    lines.push(`X-SES-LIST-MANAGEMENT-OPTIONS: ${contactListName}${topicName ? `; topic=${topicName}` : ''}`);
  }
  const { tags } = prepared.message;
  // Names and values are limited to [A-Za-z0-9_-] by the message schema: nothing here can break a header.
  if (tags.length) lines.push(`X-SES-MESSAGE-TAGS: ${tags.map((t) => `${t.name}=${t.value}`).join(', ')}`);
  return lines;
}
