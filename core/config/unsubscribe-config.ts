import { z } from 'zod';
import { secretRef } from './secret-refs.ts';

// A mailbox provider only POSTs to https (RFC 8058); plain http is for a server on this machine (`npm start`).
const LOOPBACK_HTTP = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/i;

/** One-click unsubscribe links mailroute makes and serves (`unsubscribe: { oneClick: true }` without a url). */
export const unsubscribeFields = {
  unsubscribe: z
    .object({
      baseUrl: z
        .url({ protocol: /^https?$/ })
        .refine((url) => url.startsWith('https:') || LOOPBACK_HTTP.test(url), {
          message: 'must be an https URL (http only for localhost): mailbox providers POST to https only',
        })
        .refine((url) => !/[?#]/.test(url), { message: 'must have no query or fragment' })
        .describe(
          'Where the HTTP API is reachable from the internet, e.g. https://mail.example.com or an API Gateway stage URL: links are <baseUrl>/v1/unsubscribe?token=….',
        ),
      secret: secretRef.describe(
        'Reference to the key that signs the links (HMAC-SHA256), at least 32 characters. Changing it voids every link already sent.',
      ),
      ttlDays: z
        .number()
        .int()
        .min(1)
        .max(3650)
        .optional()
        .describe('How many days a link works at least after the send (until the end of that UTC day; default 90).'),
    })
    .strict()
    .optional()
    .describe(
      'One-click unsubscribe (RFC 8058) served by mailroute: a message with `unsubscribe: { oneClick: true }` and no url gets a signed link to POST /v1/unsubscribe, which puts its recipient on the suppression list (reason unsubscribed).',
    ),
};
