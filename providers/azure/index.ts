import { ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { SMTP_CAPABILITIES } from '../smtp/capabilities.ts';
import { azureFields, azureOptions, azureRequirements } from './config.ts';

/** 10 MB per message (a request, over the API) including attachments, 50 recipients (to + cc + bcc). */
const LIMITS = { maxEncodedBytes: 10 * 1024 * 1024, maxRecipients: 50 };

/** Azure Communication Services Email: SMTP (`smtp.azurecomm.net`) or `@azure/communication-email`. */
export const azure = defineProvider({
  // The same shape as every provider's descriptor, on purpose: each declares its own modes, limits and capabilities.
  id: 'azure',
  fields: azureFields,
  requirements: azureRequirements,
  options: azureOptions,
  modes: {
    smtp: {
      capabilities: SMTP_CAPABILITIES,
      limits: LIMITS,
      create: async (entry) => new (await import('./smtp.ts')).AzureSmtpAdapter(entry),
    },
    // ACS Email has no message tags; inline images need api-version 2025-09-01 (the SDK's default).
    api: {
      capabilities: { ...ALL_CAPABILITIES, tags: false, providerOptions: ['engagementTracking'] },
      limits: LIMITS,
      create: async (entry) => new (await import('./api.ts')).AzureApiAdapter(entry),
    },
  },
  // `mailroute doctor`: what it needs in DNS, from its API when the entry's credentials allow.
  deliverability: { expect: async (...args) => (await import('./deliverability.ts')).expectSetup(...args) },
});
