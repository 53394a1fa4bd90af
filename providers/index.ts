import type { Adapter } from '../core/adapter.ts';
import type { MailrouteConfig, ProviderConfig } from '../core/config.ts';
import { ConfigurationError } from '../core/errors.ts';
import { AzureApiAdapter } from './azure/api.ts';
import { AzureSmtpAdapter } from './azure/smtp.ts';
import { GmailApiAdapter } from './gmail/api.ts';
import { GmailSmtpAdapter } from './gmail/smtp.ts';
import { LocalApiAdapter } from './local/api.ts';
import { outboxPath } from './local/outbox.ts';
import { LocalSmtpAdapter } from './local/smtp.ts';
import { OciApiAdapter } from './oci/api.ts';
import { OciSmtpAdapter } from './oci/smtp.ts';
import { SesApiAdapter } from './ses/api.ts';
import { SesSmtpAdapter } from './ses/smtp.ts';

/** The adapter for one provider entry of the configuration. */
export function createAdapter(config: ProviderConfig, mailroute: MailrouteConfig): Adapter {
  switch (config.provider) {
    case 'local': {
      const dir = outboxPath(config.outboxDir ?? mailroute.outboxDir);
      return config.mode === 'smtp' ? new LocalSmtpAdapter(config, dir) : new LocalApiAdapter(config, dir);
    }
    case 'ses':
      if (config.mode === 'smtp') return new SesSmtpAdapter(config);
      if (config.mode === 'api') return new SesApiAdapter(config);
      break;
    case 'azure':
      if (config.mode === 'smtp') return new AzureSmtpAdapter(config);
      if (config.mode === 'api') return new AzureApiAdapter(config);
      break;
    case 'gmail':
      if (config.mode === 'smtp') return new GmailSmtpAdapter(config);
      if (config.mode === 'api') return new GmailApiAdapter(config);
      break;
    case 'oci':
      if (config.mode === 'smtp') return new OciSmtpAdapter(config);
      if (config.mode === 'api') return new OciApiAdapter(config);
      break;
  }
  throw new ConfigurationError(
    `provider "${config.provider}" in ${config.mode} mode is not available in this version of mailroute`,
    { provider: config.provider, mode: config.mode },
  );
}
