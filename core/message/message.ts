import { z } from 'zod';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import type { MailAddress } from './address.ts';

/**
 * The one source of truth for the message JSON: the HTTP API body, the file the CLI sends and every queue
 * message. `schema/message.schema.json` is generated from it and the built-in providers' descriptors (their
 * `providerOptions`) by `npm run schema`, for producers in other languages.
 * Checks JSON Schema cannot express (address syntax, punycode, reserved headers, sizes) are in `validate.ts`.
 */
const noLineBreaks = /^[^\r\n\0]*$/;

const addressObject = z
  .object({
    name: z.string().regex(noLineBreaks).optional().describe('Display name, any Unicode.'),
    address: z
      .string()
      .min(3)
      .regex(noLineBreaks)
      .describe('user@example.com; an IDN domain is converted to punycode.'),
  })
  .strict();

const address = z
  .union([z.string().min(3).regex(noLineBreaks), addressObject])
  .describe('"Name <user@example.com>", "user@example.com" or { name, address }: one address per entry.');

const addressList = z.union([address, z.array(address)]);

const attachment = z
  .object({
    filename: z.string().min(1).max(255).regex(noLineBreaks),
    contentType: z
      .string()
      .regex(/^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+$/)
      .optional()
      .describe('MIME type; guessed from the file name when absent.'),
    content: z.string().describe('The bytes, base64-encoded.'),
    contentId: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\s<>\r\n\0]+$/)
      .optional()
      .describe('Makes the attachment an inline image referenced from the HTML as cid:<contentId>.'),
  })
  .strict();

const tag = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/)
      .describe('Letters, digits, _ and -, at most 256.'),
    value: z
      .string()
      .regex(/^[A-Za-z0-9_-]{0,256}$/)
      .describe('Letters, digits, _ and -, at most 256 (what every provider with tags accepts).'),
  })
  .strict();

/**
 * The longest subject taken. RFC 5322 limits a header *line* to 998 characters, and a long subject is folded over
 * several lines, so the subject itself has no limit there; no provider documents one either (SES, ACS, OCI and Gmail
 * take a plain string). 16,384 characters encode and fold to at most about 90 KB (all three-byte UTF-8 characters,
 * in base64 encoded words), within what receivers keep of a header section (Postfix's header_size_limit: 100 KiB).
 */
export const MAX_SUBJECT_CHARS = 16_384;

const messageFields = {
  from: address,
  to: addressList.optional(),
  cc: addressList.optional(),
  bcc: addressList.optional(),
  replyTo: addressList.optional(),
  subject: z
    .string()
    .max(MAX_SUBJECT_CHARS)
    .regex(noLineBreaks)
    .describe(
      `At most ${MAX_SUBJECT_CHARS} characters (16 KiB, mailroute's bound: no provider documents one). RFC 5322's 998 is per line: a longer subject is folded over several lines.`,
    ),
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z.array(attachment).optional(),
  headers: z
    .record(z.string().regex(/^[!-9;-~]+$/), z.string().regex(noLineBreaks))
    .optional()
    .describe('Extra headers. Reserved ones (From, To, Subject, Content-Type, ...) are set by their own fields.'),
  tags: z.array(tag).optional().describe('Provider tags (message tags, where the provider has them).'),
  metadata: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe('Your own data; returned in results and logs, never sent.'),
  idempotencyKey: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/)
    .optional()
    .describe('A retry or redelivery with the same key is recognized and not sent twice.'),
  route: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)
    .optional()
    .describe('Name of a configured route to send through, instead of the one the sender domain picks.'),
  unsubscribe: z
    .object({
      url: z
        .string()
        .min(1)
        .regex(noLineBreaks)
        .optional()
        .describe('Your unsubscribe page or endpoint: an https URL (http only without oneClick).'),
      mailto: z
        .string()
        .min(3)
        .regex(noLineBreaks)
        .optional()
        .describe('An address that unsubscribes whoever writes to it, e.g. unsubscribe@example.com.'),
      oneClick: z
        .boolean()
        .optional()
        .describe(
          'RFC 8058 one-click: adds List-Unsubscribe-Post, and the mail client POSTs to the https url. Without a url, mailroute makes a signed link to its own POST /v1/unsubscribe (the configuration needs an unsubscribe block; one recipient per message).',
        ),
    })
    .strict()
    .optional()
    .describe(
      'Sets List-Unsubscribe (RFC 2369) from url and mailto, and with oneClick List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058). Those two headers cannot be given in headers.',
    ),
  suppression: z
    .enum(['check', 'ignore'])
    .optional()
    .describe(
      'check (default): recipients on the suppression list are not sent to. ignore: send to them anyway, for mail that must go (a password reset after the user fixed their mailbox).',
    ),
};

/** Without a registry, `providerOptions` is checked by shape only: an object of objects, one per provider. */
const anyProviderOptions = z
  .record(z.string(), z.record(z.string(), z.unknown()))
  .describe('Per-provider escape hatch, passed to that provider only.');

function messageSchemaWith<Options extends z.ZodType>(providerOptions: Options) {
  return z
    .object({ ...messageFields, providerOptions: providerOptions.optional() })
    .strict()
    .meta({ title: 'mailroute message', $id: 'https://mailroute.dev/schema/message.schema.json' });
}

/** The message schema, `providerOptions` by shape only: what a registry-less validation checks. */
export const messageSchema = messageSchemaWith(anyProviderOptions);

const registrySchemas = new WeakMap<ProviderRegistry, typeof messageSchema>();

/**
 * The message schema whose `providerOptions` are the registry's providers' options, each strict. Typed as the
 * registry-less one, whose output it only narrows.
 */
export function messageSchemaFor(providers?: ProviderRegistry): typeof messageSchema {
  if (!providers) return messageSchema;
  let schema = registrySchemas.get(providers);
  if (!schema) {
    schema = messageSchemaWith(providers.optionsSchema) as unknown as typeof messageSchema;
    registrySchemas.set(providers, schema);
  }
  return schema;
}

/** The message as producers write it. */
export type MessageInput = z.input<typeof messageSchema>;

export interface NormalizedAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  contentId?: string;
}

export interface Tag {
  name: string;
  value: string;
}

export interface UnsubscribeSpec {
  /** An absolute URL, ASCII (punycode host, percent-encoded), `https:` when `oneClick`. */
  url?: string;
  /** `mailto:` URI (RFC 6068) of the unsubscribe address. */
  mailto?: string;
  oneClick: boolean;
}

/** The message after validation: every list a list, every domain in ASCII, attachments decoded. */
export interface NormalizedMessage {
  from: MailAddress;
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  replyTo: MailAddress[];
  subject: string;
  text?: string;
  html?: string;
  attachments: NormalizedAttachment[];
  headers: Record<string, string>;
  tags: Tag[];
  metadata: Record<string, string | number | boolean>;
  idempotencyKey?: string;
  route?: string;
  /**
   * What `List-Unsubscribe` (and, with `oneClick`, `List-Unsubscribe-Post`) in `headers` was made from: `url` is
   * normalized, and absent for a mailroute-managed one-click link until the mailer makes it.
   */
  unsubscribe?: UnsubscribeSpec;
  /** `ignore`: recipients on the suppression list are sent to anyway. */
  suppression?: 'check' | 'ignore';
  providerOptions: Record<string, Record<string, unknown>>;
}

export { allRecipients } from './recipients.ts';
