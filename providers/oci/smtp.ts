import { resolveSecret } from '../../core/config/schema.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { configuredLimits, SmtpAdapter } from '../smtp/adapter.ts';
import { engineSettings } from '../smtp/settings.ts';
import type { OciConfig } from './config.ts';
import { oci } from './index.ts';

/**
 * OCI Email Delivery over SMTP: `smtp.email.{region}.oci.oraclecloud.com`, STARTTLS on 587 or TLS on 465, with
 * the SMTP credentials generated on an IAM user. The From address must be an approved sender in that region.
 */
export class OciSmtpAdapter extends SmtpAdapter {
  constructor(config: OciConfig) {
    if (!config.smtpCredentials) throw unvalidatedEntry(config, 'smtpCredentials');
    super({
      name: config.name,
      provider: 'oci',
      capabilities: oci.modes.smtp.capabilities,
      limits: configuredLimits(oci.modes.smtp.limits, config.limits),
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
