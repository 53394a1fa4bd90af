import { z } from 'zod';

/**
 * What happened to one message for one recipient, whichever provider told us. A small set, in the spirit of
 * django-anymail's: every provider's own event names map onto these (see each `core/events/sources/*.ts`).
 */
export const EVENT_TYPES = [
  'queued',
  'sent',
  'delivered',
  'deferred',
  'bounced',
  'complained',
  'rejected',
  'failed',
  'opened',
  'clicked',
  'unsubscribed',
  'unknown',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Where events come from: each provider's feed, and delivery status notifications for any SMTP relay. */
export const EVENT_SOURCES = ['ses', 'acs', 'oci', 'dsn'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export const mailEventSchema = z
  .object({
    type: z.enum(EVENT_TYPES),
    provider: z
      .string()
      .min(1)
      .describe('The provider that reported it: ses, acs, oci, gmail, or smtp for a DSN from another relay.'),
    eventTime: z.string().describe('When the provider says it happened, ISO 8601 UTC.'),
    recipient: z
      .string()
      .optional()
      .describe('The one recipient the event is about, as the provider gave it (an event per recipient).'),
    providerMessageId: z
      .string()
      .optional()
      .describe("The provider's id of the message (SES MessageId, ACS operation id, ...)."),
    messageId: z
      .string()
      .optional()
      .describe('Our Message-ID header, `<...@...>`, when the event or the correlation record has it.'),
    idempotencyKey: z.string().optional().describe('The idempotency key of the send, found through correlation.'),
    name: z.string().optional().describe('The provider entry that sent it, found through correlation.'),
    bounceType: z
      .enum(['hard', 'soft', 'undetermined'])
      .optional()
      .describe('For `bounced`: hard (permanent, suppresses) or soft (transient, counted).'),
    reason: z
      .string()
      .optional()
      .describe("The provider's reason or category: `Permanent/General`, `Bounced`, `abuse`, `Recipient suppressed`."),
    diagnostic: z
      .string()
      .optional()
      .describe("The remote server's diagnostic text, e.g. `smtp; 550 5.1.1 user unknown`."),
    status: z.string().optional().describe('The enhanced status code (RFC 3463), e.g. `5.1.1`, when given.'),
    url: z.string().optional().describe('For `clicked`: the link.'),
    userAgent: z.string().optional().describe('For `opened` and `clicked`, when given.'),
    tags: z.record(z.string(), z.array(z.string())).optional().describe('Tags the provider echoed back.'),
    metadata: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe("The message's metadata, found through correlation."),
    raw: z.unknown().describe("The provider's event as received (for a DSN: its parsed report fields)."),
  })
  .strict()
  .meta({ title: 'mailroute delivery event', $id: 'https://mailroute.dev/schema/event.schema.json' });

/** One normalized event. `raw` is the provider's own record, kept for whatever the normalized fields leave out. */
export type MailEvent = z.infer<typeof mailEventSchema>;

/** The event model's JSON Schema (draft 2020-12), committed as `schema/event.schema.json`. */
export function eventJsonSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(mailEventSchema, { target: 'draft-2020-12', io: 'input' }), null, 2)}\n`;
}

/** An ISO 8601 UTC time from whatever a provider gives (ISO text, epoch ms); now when it gives nothing usable. */
export function isoTime(value: unknown, fallback = new Date()): string {
  const date = typeof value === 'number' || typeof value === 'string' ? new Date(value) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : fallback.toISOString();
}
