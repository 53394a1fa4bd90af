import { ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { SMTP_CAPABILITIES } from '../smtp/capabilities.ts';
import { gmailFields, gmailOptions, gmailRequirements } from './config.ts';

/** Google Workspace Gmail: the SMTP relay (or smtp.gmail.com with XOAUTH2), or `users.messages.send`. */
export const gmail = defineProvider({
  id: 'gmail',
  fields: gmailFields,
  requirements: gmailRequirements,
  options: gmailOptions,
  modes: {
    // 100 recipients per SMTP transaction; 25 MB is Gmail's limit for outgoing mail.
    smtp: {
      capabilities: SMTP_CAPABILITIES,
      limits: { maxEncodedBytes: 25 * 1024 * 1024, maxRecipients: 100 },
      create: async (entry) => new (await import('./smtp.ts')).GmailSmtpAdapter(entry),
    },
    // Everything travels inside the raw MIME, so only tags (which Gmail has none of) are missing. 36,700,160
    // bytes is users.messages.send's `mediaUpload.maxSize` in the discovery document (the upload path is always
    // used); 100 recipients per message "sent via SMTP or the Gmail API" (support.google.com/a/answer/166852).
    api: {
      capabilities: { ...ALL_CAPABILITIES, tags: false },
      limits: { maxEncodedBytes: 36_700_160, maxRecipients: 100 },
      create: async (entry) => new (await import('./api.ts')).GmailApiAdapter(entry),
    },
  },
  // `mailroute doctor`: what it needs in DNS, from its API when the entry's credentials allow.
  deliverability: { expect: async (...args) => (await import('./deliverability.ts')).expectSetup(...args) },
});
