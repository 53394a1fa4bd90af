import type { Capabilities } from '../../core/contract/adapter.ts';

/**
 * Everything travels in the MIME message, so SMTP carries every feature but provider tags and provider options
 * (a provider whose relay reads them from headers, as SES does, adds them). A file of its own, so a descriptor
 * can name it without loading the SMTP engine.
 */
export const SMTP_CAPABILITIES: Capabilities = {
  attachments: true,
  inlineImages: true,
  tags: false,
  customHeaders: true,
  replyTo: true,
  cc: true,
  bcc: true,
};
