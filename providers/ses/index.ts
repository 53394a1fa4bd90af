import { ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { SMTP_CAPABILITIES } from '../smtp/capabilities.ts';
import { sesFields, sesOptions, sesRequirements } from './config.ts';

const OPTIONS = ['configurationSet', 'listManagement'];
/** 40 MB per message after encoding and 50 recipients (to + cc + bcc), over SMTP and the API alike. */
const LIMITS = { maxEncodedBytes: 40 * 1024 * 1024, maxRecipients: 50 };

/** Amazon SES v2: SMTP (`email-smtp.{region}.amazonaws.com`) or the `SendEmail` API. */
export const ses = defineProvider({
  // The same shape as every provider's descriptor, on purpose: each declares its own modes, limits and capabilities.
  id: 'ses',
  fields: sesFields,
  requirements: sesRequirements,
  options: sesOptions,
  modes: {
    // Tags, the configuration set and list management travel as X-SES-* headers.
    smtp: {
      capabilities: { ...SMTP_CAPABILITIES, tags: true, providerOptions: OPTIONS },
      limits: LIMITS,
      create: async (entry) => new (await import('./smtp.ts')).SesSmtpAdapter(entry),
    },
    // SendEmail carries every feature: tags as EmailTags, the rest in Simple content or raw MIME.
    api: {
      capabilities: { ...ALL_CAPABILITIES, providerOptions: OPTIONS },
      limits: LIMITS,
      create: async (entry) => new (await import('./api.ts')).SesApiAdapter(entry),
    },
  },
  // `mailroute doctor`: what it needs in DNS, from its API when the entry's credentials allow.
  deliverability: { expect: async (...args) => (await import('./deliverability.ts')).expectSetup(...args) },
});
