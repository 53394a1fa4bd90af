import { resolveSecret } from '../../core/config/schema.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { configuredLimits, SmtpAdapter } from '../smtp/adapter.ts';
import type { SmtpAuth } from '../smtp/engine.ts';
import { QUOTA_RETRY_MS, type ReplyRule } from '../smtp/reply-codes.ts';
import { engineSettings, pemFromEnv } from '../smtp/settings.ts';
import type { GmailConfig } from './config.ts';
import { gmail } from './index.ts';
import { GMAIL_SMTP_SCOPE, ServiceAccountTokenSource } from './service-account-token.ts';

export const GMAIL_REPLY_RULES: readonly ReplyRule[] = [
  // The peak limit is counted per 10 minutes.
  { match: /^450[ -]4\.2\.1/, meaning: 'throttled', retryAfterMs: 60_000 },
  { match: /^550[ -]5\.4\.5/, meaning: 'quota', retryAfterMs: QUOTA_RETRY_MS },
  { match: /^550[ -]5\.7\.1 .*Daily SMTP relay limit exceeded/i, meaning: 'quota', retryAfterMs: QUOTA_RETRY_MS },
  // The relay refuses an IP it does not know, or SMTP AUTH it cannot match, with this at MAIL or RCPT.
  { match: /^550[ -]5\.7\.1 .*Invalid credentials for relay/i, meaning: 'auth' },
];

/**
 * Gmail over SMTP. The Workspace relay `smtp-relay.gmail.com` (587 STARTTLS or 465 TLS) takes mail from an
 * allow-listed IP (`smtpAuth: "none"`) or with SMTP AUTH, and wants one of your domains as the EHLO name.
 * With `smtpAuth: "xoauth2"` a service account signs in to `smtp.gmail.com` as `user`.
 */
export class GmailSmtpAdapter extends SmtpAdapter {
  constructor(config: GmailConfig) {
    const xoauth2 = config.smtpAuth === 'xoauth2';
    const settings = engineSettings('gmail', config.smtp, {
      host: xoauth2 ? 'smtp.gmail.com' : 'smtp-relay.gmail.com',
      port: 587,
    });
    const auth = gmailSmtpAuth(config);
    // Without AUTH the relay refuses an EHLO name that is not one of your domains (501 5.5.4).
    const ehloName = settings.ehloName ?? config.domain;
    super({
      name: config.name,
      provider: 'gmail',
      capabilities: gmail.modes.smtp.capabilities,
      limits: configuredLimits(gmail.modes.smtp.limits, config.limits),
      engine: {
        ...settings,
        ...(ehloName ? { ehloName } : {}),
        ...(auth ? { auth } : {}),
        rules: GMAIL_REPLY_RULES,
      },
    });
  }
}

function gmailSmtpAuth(config: GmailConfig): SmtpAuth | undefined {
  switch (config.smtpAuth ?? 'none') {
    case 'password':
      if (!config.smtpCredentials) throw unvalidatedEntry(config, 'smtpCredentials');
      return {
        user: resolveSecret(config.smtpCredentials.username, 'smtpCredentials.username'),
        pass: resolveSecret(config.smtpCredentials.password, 'smtpCredentials.password'),
      };
    case 'xoauth2': {
      const { serviceAccount, user } = config;
      if (!serviceAccount || !user) throw unvalidatedEntry(config, serviceAccount ? 'user' : 'serviceAccount');
      const source = new ServiceAccountTokenSource({
        clientEmail: serviceAccount.clientEmail,
        privateKey: pemFromEnv(resolveSecret(serviceAccount.privateKey, 'serviceAccount.privateKey')),
        user,
        scope: GMAIL_SMTP_SCOPE,
        ...(serviceAccount.tokenUrl ? { tokenUrl: serviceAccount.tokenUrl } : {}),
      });
      return { user, accessToken: (renew) => source.token(renew) };
    }
    default:
      return undefined;
  }
}
