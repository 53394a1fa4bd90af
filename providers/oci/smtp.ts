import type { Limits } from '../../core/adapter.ts';
import { type ProviderConfig, resolveSecret } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { configuredLimits, SMTP_CAPABILITIES, SmtpAdapter } from '../smtp/adapter.ts';
import { engineSettings } from '../smtp/settings.ts';

export type OciProviderConfig = Extract<ProviderConfig, { provider: 'oci' }>;

/**
 * 50 recipients; 2 MB is the documented default of the tenancy's `max-message-size` quota, which can be raised:
 * set `limits.maxEncodedBytes` to what the tenancy allows.
 */
export const OCI_LIMITS: Limits = { maxEncodedBytes: 2 * 1024 * 1024, maxRecipients: 50 };

/**
 * OCI Email Delivery over SMTP: `smtp.email.{region}.oci.oraclecloud.com`, STARTTLS on 587 or TLS on 465, with
 * the SMTP credentials generated on an IAM user. The From address must be an approved sender in that region.
 */
export class OciSmtpAdapter extends SmtpAdapter {
  constructor(config: OciProviderConfig) {
    if (!config.smtpCredentials) {
      throw new ConfigurationError('smtpCredentials is required in smtp mode', {
        provider: 'oci',
        mode: 'smtp',
        issues: [{ path: 'smtpCredentials', message: 'is required in smtp mode' }],
      });
    }
    super({
      name: config.name,
      provider: 'oci',
      capabilities: SMTP_CAPABILITIES,
      limits: configuredLimits(OCI_LIMITS, config.limits),
      engine: {
        ...engineSettings('oci', config.smtp, { host: `smtp.email.${config.region}.oci.oraclecloud.com`, port: 587 }),
        auth: {
          user: resolveSecret(config.smtpCredentials.username, 'smtpCredentials.username'),
          pass: resolveSecret(config.smtpCredentials.password, 'smtpCredentials.password'),
        },
      },
    });
  }
}
