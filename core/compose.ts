import { createHash, randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { NormalizedMessage } from './message.ts';

/** A message composed once into MIME: what every adapter sends or compares with its limits. */
export interface PreparedMessage {
  message: NormalizedMessage;
  /** The whole MIME message, exactly as it goes on the wire (Bcc is in the envelope only). */
  raw: Buffer;
  /** `raw.length`: the encoded size that providers limit. */
  size: number;
  /** The `Message-ID` header, with angle brackets. */
  messageId: string;
  envelope: { from: string; to: string[] };
  composeMs: number;
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

/** Composes the MIME message once, with nodemailer's composer. */
export async function composeMessage(message: NormalizedMessage, date: Date = new Date()): Promise<PreparedMessage> {
  const started = performance.now();
  const messageId = messageIdFor(message);
  const composer = new MailComposer({
    from: message.from,
    to: message.to,
    cc: message.cc,
    bcc: message.bcc,
    replyTo: message.replyTo.length ? message.replyTo : undefined,
    subject: message.subject,
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
  const node = composer.compile();
  const raw = await node.build();
  const envelope = node.getEnvelope();
  return {
    message,
    raw,
    size: raw.length,
    messageId,
    envelope: { from: envelope.from || message.from.address, to: envelope.to },
    composeMs: performance.now() - started,
  };
}
