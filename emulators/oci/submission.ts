import type { IncomingMessage } from 'node:http';
import { messageIdOf, parseMimeHeaders } from '../gmail/mime-headers.ts';

/** At most this many recipients across to, cc and bcc (SubmitEmailDetails / Recipients docs). */
export const MAX_RECIPIENTS = 50;

/**
 * Header names SubmitEmailDetails.headerFields may not set. The API docs name subject, from and to as
 * examples of reserved headers; the rest of this list is the emulator's reading of "reserved".
 */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'return-path',
]);

export interface EmailAddress {
  email: string;
  name?: string;
}

/** What both operations boil down to, for the store and the suppression check. */
export interface Submission {
  compartmentId: string;
  sender: string;
  /** Every recipient address (to, cc, bcc), in the order given. */
  recipients: string[];
  /** Absent when the client gave none and the service must generate one. */
  messageId?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

// Addresses must be ASCII (the API does not take SMTPUTF8 addresses); display names may be UTF-8.
const ADDRESS = /^[\x21-\x7e]+@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+$/;
// RFC 5322 msg-id: id-left "@" id-right, brackets optional as in the API's example.
const MESSAGE_ID = /^<?[^<>\s@]+@[^<>\s@]+>?$/;

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function addressList(value: unknown, field: string): Checked<EmailAddress[]> {
  if (value === undefined || value === null) return { ok: true, value: [] };
  if (!Array.isArray(value)) return fail(`${field} must be an array of email addresses.`);
  const list: EmailAddress[] = [];
  for (const [index, item] of value.entries()) {
    if (!isRecord(item) || typeof item.email !== 'string') return fail(`${field}[${index}].email is required.`);
    if (!ADDRESS.test(item.email)) return fail(`${field}[${index}].email is not a valid ASCII email address.`);
    if (item.name !== undefined && typeof item.name !== 'string')
      return fail(`${field}[${index}].name must be a string.`);
    list.push({ email: item.email, name: item.name as string | undefined });
  }
  return { ok: true, value: list };
}

/** Checks a SubmitEmailDetails body as the notes describe it (required fields, limits, reserved headers). */
export function checkSubmitEmail(details: unknown): Checked<Submission> {
  if (!isRecord(details)) return fail('The request body must be a SubmitEmailDetails object.');
  const { sender, recipients, subject, bodyHtml, bodyText, replyTo, headerFields, messageId } = details;
  if (!isRecord(sender)) return fail('sender is required.');
  if (typeof sender.compartmentId !== 'string' || sender.compartmentId === '')
    return fail('sender.compartmentId is required.');
  const from = addressList(
    sender.senderAddress === undefined ? undefined : [sender.senderAddress],
    'sender.senderAddress',
  );
  if (!from.ok) return from;
  if (from.value.length === 0) return fail('sender.senderAddress is required.');
  if (!isRecord(recipients)) return fail('recipients is required.');
  const all: string[] = [];
  for (const field of ['to', 'cc', 'bcc'] as const) {
    const list = addressList(recipients[field], `recipients.${field}`);
    if (!list.ok) return list;
    all.push(...list.value.map((address) => address.email));
  }
  if (all.length === 0) return fail('At least one recipient in to, cc or bcc is required.');
  if (all.length > MAX_RECIPIENTS)
    return fail(`Too many recipients: ${all.length}; at most ${MAX_RECIPIENTS} across to, cc and bcc.`);
  if (typeof subject !== 'string') return fail('subject is required.');
  if (typeof bodyHtml !== 'string' && typeof bodyText !== 'string')
    return fail('At least one of bodyHtml or bodyText is required.');
  const replies = addressList(replyTo, 'replyTo');
  if (!replies.ok) return replies;
  if (headerFields !== undefined) {
    if (!isRecord(headerFields)) return fail('headerFields must be a map of strings.');
    for (const [name, value] of Object.entries(headerFields)) {
      if (typeof value !== 'string') return fail(`headerFields.${name} must be a string.`);
      if (RESERVED_HEADERS.has(name.toLowerCase()))
        return fail(`headerFields may not set the reserved header ${name}.`);
    }
  }
  if (messageId !== undefined && (typeof messageId !== 'string' || !MESSAGE_ID.test(messageId))) {
    return fail('messageId is not a valid RFC 5322 Message-ID.');
  }
  return {
    ok: true,
    value: {
      compartmentId: sender.compartmentId,
      sender: from.value[0]!.email,
      recipients: all,
      messageId: typeof messageId === 'string' ? messageId.replace(/^<(.*)>$/, '$1') : undefined,
    },
  };
}

const headerOf = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

/**
 * Checks a SubmitRawEmail request: the headers the SDK sends (`compartment-id`, `sender`, `recipients` joined
 * with commas, `content-type` message/rfc822 or message/global) and a non-empty MIME body.
 */
export function checkSubmitRawEmail(
  req: IncomingMessage,
  body: Buffer,
): Checked<Submission & { headers: Record<string, string> }> {
  const contentType = (headerOf(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'message/rfc822' && contentType !== 'message/global') {
    return fail('content-type must be message/rfc822 or message/global.');
  }
  const compartmentId = headerOf(req, 'compartment-id');
  if (!compartmentId) return fail('The compartment-id header is required.');
  const sender = headerOf(req, 'sender');
  if (!sender) return fail('The sender header is required.');
  if (!ADDRESS.test(sender)) return fail('The sender header is not a valid ASCII email address.');
  const recipients = (headerOf(req, 'recipients') ?? '')
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean);
  if (recipients.length === 0) return fail('The recipients header is required.');
  if (recipients.length > MAX_RECIPIENTS)
    return fail(`Too many recipients: ${recipients.length}; at most ${MAX_RECIPIENTS}.`);
  const bad = recipients.find((address) => !ADDRESS.test(address));
  if (bad) return fail(`Recipient ${bad} is not a valid ASCII email address.`);
  if (body.length === 0) return fail('The message body is empty.');
  const headers = parseMimeHeaders(body);
  return { ok: true, value: { compartmentId, sender, recipients, messageId: messageIdOf(headers), headers } };
}
