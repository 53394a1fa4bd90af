import type { Limits } from '../../core/adapter.ts';
import type { PreparedMessage } from '../../core/compose.ts';
import { type ProviderConfig, resolveSecret } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { registerSecret } from '../../core/secrets.ts';
import { configuredLimits, SMTP_CAPABILITIES, SmtpAdapter } from '../smtp/adapter.ts';
import type { SmtpAuth } from '../smtp/engine.ts';
import { QUOTA_RETRY_MS, type ReplyRule } from '../smtp/reply-codes.ts';
import { engineSettings } from '../smtp/settings.ts';
import { sesSmtpPassword } from './smtp-password.ts';

export type SesProviderConfig = Extract<ProviderConfig, { provider: 'ses' }>;

/** 40 MB after encoding, 50 recipients (to + cc + bcc) per message. */
export const SES_LIMITS: Limits = { maxEncodedBytes: 40 * 1024 * 1024, maxRecipients: 50 };

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
 * configuration set and the message tags travel as `X-SES-*` headers put on top of the composed message.
 */
export class SesSmtpAdapter extends SmtpAdapter {
  constructor(config: SesProviderConfig) {
    super({
      name: config.name,
      provider: 'ses',
      capabilities: { ...SMTP_CAPABILITIES, tags: true },
      limits: configuredLimits(SES_LIMITS, config.limits),
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
function sesSmtpAuth(config: SesProviderConfig): SmtpAuth {
  if (config.smtpCredentials) {
    return {
      user: resolveSecret(config.smtpCredentials.username, 'smtpCredentials.username'),
      pass: resolveSecret(config.smtpCredentials.password, 'smtpCredentials.password'),
    };
  }
  if (!config.credentials) {
    throw new ConfigurationError('smtpCredentials is required in smtp mode', {
      provider: 'ses',
      mode: 'smtp',
      issues: [{ path: 'smtpCredentials', message: 'is required in smtp mode (or credentials to derive it)' }],
    });
  }
  const pass = sesSmtpPassword(
    resolveSecret(config.credentials.secretAccessKey, 'credentials.secretAccessKey'),
    config.region,
  );
  registerSecret(pass);
  return { user: resolveSecret(config.credentials.accessKeyId, 'credentials.accessKeyId'), pass };
}

function sesHeaders(prepared: PreparedMessage, configurationSet: string | undefined): string[] {
  const lines: string[] = [];
  if (configurationSet) lines.push(`X-SES-CONFIGURATION-SET: ${configurationSet}`);
  const { tags } = prepared.message;
  // Names and values are limited to [A-Za-z0-9_.@-] by the message schema: nothing here can break a header.
  if (tags.length) lines.push(`X-SES-MESSAGE-TAGS: ${tags.map((t) => `${t.name}=${t.value}`).join(', ')}`);
  return lines;
}
