import { ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { SMTP_CAPABILITIES } from '../smtp/capabilities.ts';
import { ociFields, ociOptions, ociRequirements } from './config.ts';

/**
 * 50 recipients across to, cc and bcc. The size is a tenancy quota (`max-message-size`) whose default is not
 * documented where we could read it: 2 MiB is a conservative guess (unverified), so raise it with
 * `limits.maxEncodedBytes` to the tenancy's actual limit.
 */
const LIMITS = { maxEncodedBytes: 2 * 1024 * 1024, maxRecipients: 50 };

/** OCI Email Delivery: SMTP (`smtp.email.{region}.oci.oraclecloud.com`) or `oci-emaildataplane`. */
export const oci = defineProvider({
  // The same shape as every provider's descriptor, on purpose: each declares its own modes, limits and capabilities.
  id: 'oci',
  fields: ociFields,
  requirements: ociRequirements,
  options: ociOptions,
  modes: {
    smtp: {
      capabilities: SMTP_CAPABILITIES,
      limits: LIMITS,
      create: async (entry) => new (await import('./smtp.ts')).OciSmtpAdapter(entry),
    },
    // Attachments and inline images go through submitRawEmail; OCI has no message tags.
    api: {
      capabilities: { ...ALL_CAPABILITIES, tags: false },
      limits: LIMITS,
      create: async (entry) => new (await import('./api.ts')).OciApiAdapter(entry),
    },
  },
  // `mailroute doctor`: what it needs in DNS, from its API when the entry's credentials allow.
  deliverability: { expect: async (...args) => (await import('./deliverability.ts')).expectSetup(...args) },
});
