import type { MailrouteConfig } from '../../core/config/schema.ts';
import { ALL_CAPABILITIES, type Mode } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { type LocalConfig, localFields, localOptions } from './config.ts';

/** Generous limits: the capture inbox exists to show what would be sent, not to refuse it. */
const LIMITS = { maxEncodedBytes: 50 * 1024 * 1024, maxRecipients: 1000 };

/** The local capture inbox: the embedded SMTP server (SMTP mode) or the outbox written directly (API mode). */
export const local = defineProvider({
  id: 'local',
  fields: localFields,
  options: localOptions,
  modes: {
    smtp: { capabilities: ALL_CAPABILITIES, limits: LIMITS, create: (entry, config) => build('smtp', entry, config) },
    api: { capabilities: ALL_CAPABILITIES, limits: LIMITS, create: (entry, config) => build('api', entry, config) },
  },
});

async function build(mode: Mode, entry: LocalConfig, config: MailrouteConfig) {
  // The outbox module loads mailparser: only a local entry pays for it.
  const dir = (await import('./outbox.ts')).outboxPath(entry.outboxDir ?? config.outboxDir);
  if (mode === 'smtp') return new (await import('./smtp.ts')).LocalSmtpAdapter(entry, dir);
  return new (await import('./api.ts')).LocalApiAdapter(entry, dir);
}
