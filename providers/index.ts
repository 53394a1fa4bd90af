import type { Adapter } from '../core/adapter.ts';
import type { MailrouteConfig, ProviderConfig } from '../core/config.ts';
import { ConfigurationError } from '../core/errors.ts';
import { LocalApiAdapter } from './local/api.ts';
import { outboxPath } from './local/outbox.ts';
import { LocalSmtpAdapter } from './local/smtp.ts';

/** The adapter for one provider entry of the configuration. */
export function createAdapter(config: ProviderConfig, mailroute: MailrouteConfig): Adapter {
  switch (config.provider) {
    case 'local': {
      const dir = outboxPath(config.outboxDir ?? mailroute.outboxDir);
      return config.mode === 'smtp' ? new LocalSmtpAdapter(config, dir) : new LocalApiAdapter(config, dir);
    }
    default:
      throw new ConfigurationError(
        `provider "${config.provider}" in ${config.mode} mode is not available in this version of mailroute`,
        { provider: config.provider, mode: config.mode },
      );
  }
}
