import type { Adapter } from '../core/adapter.ts';
import type { MailrouteConfig, ProviderConfig } from '../core/config.ts';
import { ConfigurationError } from '../core/errors.ts';

/**
 * The adapter for one provider entry of the configuration. Each adapter module (and so its cloud SDK) is
 * imported only when an entry uses it: a function configured for SES never loads the Azure, Google or OCI SDKs.
 */
export async function createAdapter(config: ProviderConfig, mailroute: MailrouteConfig): Promise<Adapter> {
  switch (config.provider) {
    case 'local': {
      // The outbox module loads mailparser: only a local entry pays for it.
      const { outboxPath } = await import('./local/outbox.ts');
      const dir = outboxPath(config.outboxDir ?? mailroute.outboxDir);
      if (config.mode === 'smtp') return new (await import('./local/smtp.ts')).LocalSmtpAdapter(config, dir);
      return new (await import('./local/api.ts')).LocalApiAdapter(config, dir);
    }
    case 'ses':
      if (config.mode === 'smtp') return new (await import('./ses/smtp.ts')).SesSmtpAdapter(config);
      return new (await import('./ses/api.ts')).SesApiAdapter(config);
    case 'azure':
      if (config.mode === 'smtp') return new (await import('./azure/smtp.ts')).AzureSmtpAdapter(config);
      return new (await import('./azure/api.ts')).AzureApiAdapter(config);
    case 'gmail':
      if (config.mode === 'smtp') return new (await import('./gmail/smtp.ts')).GmailSmtpAdapter(config);
      return new (await import('./gmail/api.ts')).GmailApiAdapter(config);
    case 'oci':
      if (config.mode === 'smtp') return new (await import('./oci/smtp.ts')).OciSmtpAdapter(config);
      return new (await import('./oci/api.ts')).OciApiAdapter(config);
  }
  throw new ConfigurationError(`provider "${(config as ProviderConfig).provider}" is not known`);
}
