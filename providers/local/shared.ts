import type { Limits } from '../../core/adapter.ts';
import type { ProviderConfig } from '../../core/config.ts';

export type LocalProviderConfig = Extract<ProviderConfig, { provider: 'local' }>;

/** Generous limits: the capture inbox exists to show what would be sent, not to refuse it. */
export const LOCAL_LIMITS: Limits = { maxEncodedBytes: 50 * 1024 * 1024, maxRecipients: 1000 };
