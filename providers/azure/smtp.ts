import { resolveSecret } from '../../core/config/schema.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { configuredLimits, SmtpAdapter } from '../smtp/adapter.ts';
import type { SmtpAuth } from '../smtp/engine.ts';
import { engineSettings } from '../smtp/settings.ts';
import type { AzureConfig } from './config.ts';
import { azure } from './index.ts';

/**
 * Azure Communication Services Email over SMTP: `smtp.azurecomm.net:587` with STARTTLS. The Entra application
 * signs in: username `<resource>|<app id>|<tenant id>` (or a named SMTP username), password its client secret.
 */
export class AzureSmtpAdapter extends SmtpAdapter {
  constructor(config: AzureConfig) {
    super({
      name: config.name,
      provider: 'azure',
      capabilities: azure.modes.smtp.capabilities,
      limits: configuredLimits(azure.modes.smtp.limits, config.limits),
      engine: {
        ...engineSettings('azure', config.smtp, { host: 'smtp.azurecomm.net', port: 587 }),
        auth: azureSmtpAuth(config),
      },
    });
  }
}

function azureSmtpAuth(config: AzureConfig): SmtpAuth {
  if (!config.entra) throw unvalidatedEntry(config, 'entra');
  const { tenantId, clientId, clientSecret } = config.entra;
  if (!config.smtpUsername && !config.resourceName) throw unvalidatedEntry(config, 'resourceName');
  return {
    user: config.smtpUsername ?? `${config.resourceName}|${clientId}|${tenantId}`,
    pass: resolveSecret(clientSecret, 'entra.clientSecret'),
  };
}
