import type { Limits } from '../../core/adapter.ts';
import { type ProviderConfig, resolveSecret } from '../../core/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { configuredLimits, SMTP_CAPABILITIES, SmtpAdapter } from '../smtp/adapter.ts';
import type { SmtpAuth } from '../smtp/engine.ts';
import { engineSettings } from '../smtp/settings.ts';

export type AzureProviderConfig = Extract<ProviderConfig, { provider: 'azure' }>;

/** 10 MB per message including attachments, 50 recipients. */
export const ACS_LIMITS: Limits = { maxEncodedBytes: 10 * 1024 * 1024, maxRecipients: 50 };

/**
 * Azure Communication Services Email over SMTP: `smtp.azurecomm.net:587` with STARTTLS. The Entra application
 * signs in: username `<resource>|<app id>|<tenant id>` (or a named SMTP username), password its client secret.
 */
export class AzureSmtpAdapter extends SmtpAdapter {
  constructor(config: AzureProviderConfig) {
    super({
      name: config.name,
      provider: 'azure',
      capabilities: SMTP_CAPABILITIES,
      limits: configuredLimits(ACS_LIMITS, config.limits),
      engine: {
        ...engineSettings('azure', config.smtp, { host: 'smtp.azurecomm.net', port: 587 }),
        auth: azureSmtpAuth(config),
      },
    });
  }
}

function azureSmtpAuth(config: AzureProviderConfig): SmtpAuth {
  const missing = (path: string, message: string) =>
    new ConfigurationError(`${path} ${message}`, { provider: 'azure', mode: 'smtp', issues: [{ path, message }] });
  if (!config.entra) throw missing('entra', 'is required in smtp mode (its clientSecret is the password)');
  const { tenantId, clientId, clientSecret } = config.entra;
  if (!config.smtpUsername && !config.resourceName) {
    throw missing('resourceName', 'is required in smtp mode to build the username (or give smtpUsername)');
  }
  return {
    user: config.smtpUsername ?? `${config.resourceName}|${clientId}|${tenantId}`,
    pass: resolveSecret(clientSecret, 'entra.clientSecret'),
  };
}
