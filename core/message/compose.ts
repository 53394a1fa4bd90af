import { createHash, randomUUID } from 'node:crypto';
import { InvalidMessageError } from '../errors.ts';
import type { NormalizedMessage, UnsubscribeSpec } from './message.ts';
import { allRecipients } from './recipients.ts';

/**
 * A message ready to send. Its MIME is composed once, on first use, by nodemailer's composer: adapters that
 * send MIME (every SMTP mode, raw API calls) call `mime()`; adapters that send structured fields never pay
 * for it. Size checks use `sizeUpperBound` and compose only when the bound
 * is over a limit, to compare the exact size.
 */
export interface PreparedMessage {
  message: NormalizedMessage;
  /** The `Message-ID` header, with angle brackets. */
  messageId: string;
  /** The SMTP envelope: the sender and every recipient, Bcc included (Bcc is never in the headers). */
  envelope: { from: string; to: string[] };
  /** An upper bound of the encoded size, known without composing. */
  sizeUpperBound: number;
  /** The whole MIME message as it goes on the wire; composed on the first call, the same bytes after. */
  mime(): Promise<Buffer>;
  /** The exact encoded size in bytes (composes if needed). */
  encodedSize(): Promise<number>;
  /** The exact size once composed, else undefined. */
  readonly size: number | undefined;
  /** Milliseconds spent composing (0 until composed). */
  readonly composeMs: number;
}

/** A prepared message whose MIME is already composed. */
export interface ComposedMessage extends PreparedMessage {
  raw: Buffer;
  size: number;
}

/**
 * The Message-ID: derived from the idempotency key when there is one, so that a retried or redelivered
 * message carries the same Message-ID wherever it is sent and a receiver can recognize the duplicate.
 */
export function messageIdFor(message: NormalizedMessage): string {
  const domain = message.from.address.split('@').pop();
  const local = message.idempotencyKey
    ? createHash('sha256').update(message.idempotencyKey).digest('hex').slice(0, 32)
    : randomUUID();
  return `<${local}@${domain}>`;
}

/**
 * `List-Unsubscribe` (RFC 2369: the URL first, then the mailto) and, for one-click, `List-Unsubscribe-Post` (RFC
 * 8058), in that order. They go in the message's `headers`, so that every adapter carries them as it carries any
 * header (SES `Headers`, ACS `headers`, OCI `headerFields`, the composed MIME everywhere else).
 */
export function unsubscribeHeaders(spec: UnsubscribeSpec): Record<string, string> {
  const targets = [spec.url, spec.mailto].filter((t): t is string => t !== undefined).map((t) => `<${t}>`);
  if (targets.length === 0) return {};
  return {
    'List-Unsubscribe': targets.join(', '),
    ...(spec.oneClick && spec.url ? { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {}),
  };
}

/** Prepares a message; the MIME is composed later, once, if an adapter or a size check needs it. */
export function prepareMessage(message: NormalizedMessage, date: Date = new Date()): PreparedMessage {
  if (message.unsubscribe?.oneClick && !message.unsubscribe.url) {
    // Never sent without the one-click link it asked for: the mailer makes it (Mailer.send), from the configuration.
    const problem =
      'is required here: a mailroute-managed one-click link is made by Mailer.send from the configuration';
    throw new InvalidMessageError([{ path: 'unsubscribe.url', message: problem }]);
  }
  const messageId = messageIdFor(message);
  let composed: Promise<Buffer> | undefined;
  let raw: Buffer | undefined;
  let composeMs = 0;
  const mime = () => {
    composed ??= (async () => {
      const started = performance.now();
      raw = await build(message, messageId, date);
      composeMs = performance.now() - started;
      return raw;
    })();
    return composed;
  };
  return {
    message,
    messageId,
    envelope: {
      from: message.from.address,
      to: [...new Set(allRecipients(message).map((a) => a.address))],
    },
    sizeUpperBound: sizeUpperBound(message),
    mime,
    encodedSize: async () => (await mime()).length,
    get size() {
      return raw?.length;
    },
    get composeMs() {
      return composeMs;
    },
  };
}

/** Prepares and composes at once. */
export async function composeMessage(message: NormalizedMessage, date: Date = new Date()): Promise<ComposedMessage> {
  const prepared = prepareMessage(message, date);
  const raw = await prepared.mime();
  // `size` is already exact (a getter over the composed bytes); only `raw` is added.
  return Object.assign(prepared, { raw }) as ComposedMessage;
}

/**
 * nodemailer's composer, loaded the first time a message is composed: a message that goes out as structured fields
 * (SES Simple content, ACS, OCI's structured submission) never loads it.
 */
const composerModules = () =>
  Promise.all([import('nodemailer/lib/mail-composer'), import('nodemailer/lib/mime-funcs')]).then(
    ([composer, funcs]) => ({ MailComposer: composer.default, encodeWord: funcs.encodeWord }),
  );
let composing: ReturnType<typeof composerModules> | undefined;

async function build(message: NormalizedMessage, messageId: string, date: Date): Promise<Buffer> {
  composing ??= composerModules();
  const { MailComposer, encodeWord } = await composing;
  const composer = new MailComposer({
    from: message.from,
    to: message.to,
    cc: message.cc,
    bcc: message.bcc,
    replyTo: message.replyTo.length ? message.replyTo : undefined,
    // nodemailer folds a header only at whitespace: a subject with a run too long for one line goes as RFC 2047
    // encoded words, which it folds.
    subject: /\S{900,}/.test(message.subject) ? encodeWord(message.subject, 'Q', 52) : message.subject,
    text: message.text,
    html: message.html,
    attachments: message.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : {}),
    })),
    headers: message.headers,
    messageId,
    date,
  });
  return composer.compile().build();
}

const utf8 = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s));

/**
 * A bound no composed message exceeds: each header field at most 3 bytes per UTF-8 byte (encoded words and
 * folding) plus overhead, each body at most 3.2 bytes per byte (quoted-printable, soft breaks), each
 * attachment its base64 with line breaks, plus generous room for the fixed headers and boundaries.
 * A property test checks it against the real composer.
 */
export function sizeUpperBound(m: NormalizedMessage): number {
  const field = (s: string | undefined) => 3 * utf8(s) + 100;
  const mailboxes = [m.from, ...m.to, ...m.cc, ...m.replyTo];
  let bound = 2_000 + field(m.subject);
  for (const a of mailboxes) bound += field(a.name) + field(a.address);
  for (const [name, value] of Object.entries(m.headers)) bound += field(name) + field(value);
  for (const body of [m.text, m.html]) if (body !== undefined) bound += Math.ceil(3.2 * utf8(body)) + 300;
  for (const a of m.attachments) {
    bound += Math.ceil((Math.ceil(a.content.length / 3) * 4 * 78) / 76) + 600 + field(a.filename) + field(a.contentId);
  }
  return bound;
}
