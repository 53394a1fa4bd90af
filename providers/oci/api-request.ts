import { isUtf8 } from 'node:buffer';
import { type models, requests } from 'oci-emaildataplane';
import { UnsupportedFeatureError } from '../../core/errors.ts';
import type { MailAddress } from '../../core/message/address.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';

/**
 * submitEmail carries subject, text, html, to/cc/bcc, reply-to, custom headers and the Message-ID, but no
 * attachment of any kind (regular or inline): only those need the composed MIME and submitRawEmail.
 */
export function fitsSubmitEmail(prepared: PreparedMessage): boolean {
  return prepared.message.attachments.length === 0;
}

/** The Message-ID as SubmitEmailDetails.messageId wants it: RFC 5322 id-left@id-right, no angle brackets. */
export function ociMessageId(prepared: PreparedMessage): string {
  return prepared.messageId.replace(/^<(.*)>$/, '$1');
}

const emailAddress = (a: MailAddress): models.EmailAddress =>
  a.name ? { email: a.address, name: a.name } : { email: a.address };
const list = (addresses: MailAddress[]) => (addresses.length ? addresses.map(emailAddress) : undefined);

export function submitEmailDetails(prepared: PreparedMessage, compartmentId: string): models.SubmitEmailDetails {
  const { message } = prepared;
  return {
    // The same Message-ID as the composed message, derived from the idempotency key: a retry is recognizable.
    messageId: ociMessageId(prepared),
    sender: { senderAddress: emailAddress(message.from), compartmentId },
    recipients: { to: list(message.to), cc: list(message.cc), bcc: list(message.bcc) },
    subject: message.subject,
    bodyText: message.text,
    bodyHtml: message.html,
    replyTo: list(message.replyTo),
    headerFields: Object.keys(message.headers).length ? message.headers : undefined,
  };
}

/**
 * The composed MIME for submitRawEmail. The SDK signs a string or a stream, never a Buffer, and computes the
 * body digest over the body decoded as UTF-8 text; so the bytes go as a string, which is exact only when they
 * are valid UTF-8 (nodemailer's output is 7-bit: base64 and quoted-printable parts).
 */
export function submitRawEmailRequest(
  prepared: PreparedMessage,
  compartmentId: string,
  raw: Buffer,
): requests.SubmitRawEmailRequest {
  if (!isUtf8(raw)) {
    throw new UnsupportedFeatureError('8-bit MIME that is not UTF-8 (the request signature covers UTF-8 text)', {
      provider: 'oci',
      mode: 'api',
    });
  }
  return {
    contentType: requests.SubmitRawEmailRequest.ContentType.MessageRfc822,
    compartmentId,
    sender: prepared.envelope.from,
    // Every recipient, Bcc included: the envelope, since the MIME holds no Bcc field.
    recipients: prepared.envelope.to,
    rawMessage: raw.toString('utf8'),
    contentLength: raw.length,
  };
}
