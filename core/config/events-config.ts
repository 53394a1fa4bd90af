import { z } from 'zod';
import { secretRef } from './secret-refs.ts';

/** Delivery events (core/events/): where they may come from, and how long a sent message can be found by them. */
export const eventsFields = {
  events: z
    .object({
      correlationTtlDays: z
        .number()
        .int()
        .min(1)
        .max(400)
        .optional()
        .describe(
          "How long a sent message can be found by its provider's message id or Message-ID, so an event gets its idempotency key and metadata (default 30).",
        ),
      correlate: z
        .boolean()
        .optional()
        .describe(
          "Record each send's provider message id and Message-ID (two writes to the state store, in parallel, after the send) so events find it and `events stats` counts it (default true).",
        ),
      sns: z
        .object({
          topicArns: z
            .array(
              z
                .string()
                .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, 'must be an SNS topic ARN'),
            )
            .describe(
              'The SNS topics whose messages are taken in; every other topic is refused, however well signed (also MAILROUTE_SNS_TOPIC_ARNS, comma-separated).',
            ),
        })
        .strict()
        .optional(),
      webhookSecret: secretRef
        .optional()
        .describe(
          'Reference to the secret an HTTP event intake other than SNS requires (Event Grid, OCI, DSN): `?secret=` in the URL or `Authorization: Bearer`. SNS messages are verified by their signature instead.',
        ),
      eventGridEntra: z
        .object({
          tenantId: z
            .string()
            .regex(
              /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
              'must be the Microsoft Entra tenant ID (a GUID), not a domain name',
            )
            .describe(
              "The Microsoft Entra tenant of the webhook's application: a token must be issued by it (`iss` `https://login.microsoftonline.com/<tenant>/v2.0` or `https://sts.windows.net/<tenant>/`, and `tid`).",
            ),
          audience: z
            .string()
            .min(1)
            .describe(
              "The token's expected `aud`: the webhook application's Application ID URI or client ID, as given to the event subscription (v2 tokens always carry the client ID).",
            ),
          jwksUri: z
            .url({ protocol: /^https?$/ })
            .optional()
            .describe(
              "Where the tenant's signing keys are fetched (default `https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys`); fetched once and cached, again for an unknown key ID at most every 30 s.",
            ),
          requiredRole: z
            .string()
            .min(1)
            .optional()
            .describe(
              "The app role the token's `roles` must include: the one assigned to Event Grid's service principal on the webhook's application (default 'AzureEventGridSecureWebhookSubscriber').",
            ),
        })
        .strict()
        .optional()
        .describe(
          'Take Event Grid deliveries to `/v1/events/acs` authenticated by Microsoft Entra: a subscription set to "Use Microsoft Entra authentication" sends `Authorization: Bearer <token>`, verified here (RS256 signature from the tenant\'s keys, issuer, audience, expiry with 5 minutes of clock skew, app role). `events.webhookSecret` still works beside it.',
        ),
      stats: z
        .boolean()
        .optional()
        .describe('Count events per provider and day in the state store, for `mailroute events stats` (default true).'),
    })
    .strict()
    .optional(),
  suppression: z
    .object({
      enabled: z
        .boolean()
        .optional()
        .describe('Refuse suppressed recipients before routing, whatever provider the route picks (default true).'),
      softBounceThreshold: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          'Soft bounces within softBounceWindowDays that suppress a recipient (default 3); a delivery resets the count.',
        ),
      softBounceWindowDays: z.number().int().min(1).optional().describe('Default 30.'),
      unsubscribes: z.boolean().optional().describe('An unsubscribe event suppresses the recipient (default true).'),
      providerSuppressions: z
        .boolean()
        .optional()
        .describe(
          "A provider refusing a recipient because it is on that provider's own suppression list suppresses it on every provider (default true).",
        ),
    })
    .strict()
    .optional(),
};
