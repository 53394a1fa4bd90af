import { type ParsedMail, simpleParser } from 'mailparser';
import { EventRejectedError } from '../../errors.ts';
import { type EventType, isoTime, type MailEvent } from '../event.ts';

/**
 * Delivery status notifications (RFC 3464): `multipart/report; report-type=delivery-status` from any SMTP relay, with a
 * `message/delivery-status` part (one per-message block, then one block per recipient) and, usually, the returned
 * message or its headers (`message/rfc822`, `text/rfc822-headers`). Gmail and Google Workspace bounces may leave the
 * delivery-status part empty, or send plain text only: then the human-readable text is read instead.
 */

export interface DsnOptions {
  /** The provider to report; by default `gmail` when Google sent the DSN, else `smtp`. */
  provider?: string;
}

type Fields = Record<string, string>;

const STATUS_PARTS = new Set(['message/delivery-status', 'message/global-delivery-status']);
const RETURNED_PARTS = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers']);
const GOOGLE_DOMAINS = /(^|\.)(googlemail\.com|google\.com|gmail\.com)$/i;
const DAEMON = /^(mailer-daemon|mail-daemon|mailerdaemon|postmaster)$/i;
const BOUNCE_SUBJECT =
  /delivery status notification|undeliver|returned mail|delivery fail|failure notice|mail delivery failed|not delivered|could not be delivered|delivery has failed|delivery incomplete|delayed mail/i;

/** RFC 3463 enhanced status codes, `subject.detail` -> text. */
const STATUS_TEXT: Record<string, string> = {
  '0.0': 'Other undefined status',
  '1.0': 'Other address status',
  '1.1': 'Bad destination mailbox address',
  '1.2': 'Bad destination system address',
  '1.3': 'Bad destination mailbox address syntax',
  '1.4': 'Destination mailbox address ambiguous',
  '1.5': 'Destination address valid',
  '1.6': 'Destination mailbox has moved',
  '1.7': "Bad sender's mailbox address syntax",
  '1.8': "Bad sender's system address",
  '2.0': 'Other or undefined mailbox status',
  '2.1': 'Mailbox disabled, not accepting messages',
  '2.2': 'Mailbox full',
  '2.3': 'Message length exceeds administrative limit',
  '2.4': 'Mailing list expansion problem',
  '3.0': 'Other or undefined mail system status',
  '3.1': 'Mail system full',
  '3.2': 'System not accepting network messages',
  '3.3': 'System not capable of selected features',
  '3.4': 'Message too big for system',
  '3.5': 'System incorrectly configured',
  '4.0': 'Other or undefined network or routing status',
  '4.1': 'No answer from host',
  '4.2': 'Bad connection',
  '4.3': 'Directory server failure',
  '4.4': 'Unable to route',
  '4.5': 'Mail system congestion',
  '4.6': 'Routing loop detected',
  '4.7': 'Delivery time expired',
  '5.0': 'Other or undefined protocol status',
  '5.1': 'Invalid command',
  '5.2': 'Syntax error',
  '5.3': 'Too many recipients',
  '5.4': 'Invalid command arguments',
  '5.5': 'Wrong protocol version',
  '6.0': 'Other or undefined media error',
  '6.1': 'Media not supported',
  '6.2': 'Conversion required and prohibited',
  '6.3': 'Conversion required but not supported',
  '6.4': 'Conversion with loss performed',
  '6.5': 'Conversion failed',
  '7.0': 'Other or undefined security status',
  '7.1': 'Delivery not authorized, message refused',
  '7.2': 'Mailing list expansion prohibited',
  '7.3': 'Security conversion required but not possible',
  '7.4': 'Security features not supported',
  '7.5': 'Cryptographic failure',
  '7.6': 'Cryptographic algorithm not supported',
  '7.7': 'Message integrity failure',
};

function describeStatus(status: string | undefined): string | undefined {
  const match = status?.match(/^([245])\.(\d{1,3})\.(\d{1,3})$/);
  if (!match) return undefined;
  const [, klass, subject, detail] = match;
  return STATUS_TEXT[`${subject}.${detail}`] ?? STATUS_TEXT[`${subject}.0`] ?? `status class ${klass}`;
}

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;
const REPLY = /(?:^|[\s;(])([245]\d\d)(?=[\s-])/m;
const ADDRESS =
  /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/g;

/** A header-like block's lines, unfolded (a line starting with white space continues the one before). */
function unfold(block: string): string[] {
  const lines: string[] = [];
  for (const line of block.split('\n')) {
    if (/^[ \t]/.test(line) && lines.length > 0) lines[lines.length - 1] += ` ${line.trim()}`;
    else if (line.trim() !== '') lines.push(line.trimEnd());
  }
  return lines;
}

function parseFields(block: string): Fields {
  const fields: Fields = {};
  for (const line of unfold(block)) {
    const match = line.match(/^([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*)$/);
    if (!match) continue;
    const name = match[1]!.toLowerCase();
    // A repeated field keeps its first value (RFC 3464 allows each at most once per block).
    if (!(name in fields)) fields[name] = match[2]!.trim();
  }
  return fields;
}

/** The per-message fields and one set of fields per recipient, from the delivery-status part(s). */
export function parseDeliveryStatus(content: string): { message: Fields; recipients: Fields[] } {
  const message: Fields = {};
  const recipients: Fields[] = [];
  const blocks = content.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/);
  for (const block of blocks) {
    const fields = parseFields(block);
    if (Object.keys(fields).length === 0) continue;
    if ('final-recipient' in fields || 'original-recipient' in fields) recipients.push(fields);
    else Object.assign(message, { ...fields, ...message });
  }
  return { message, recipients };
}

/** `rfc822; user@example.com` -> `user@example.com` (the address type is dropped, angle brackets too). */
function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const address = (value.includes(';') ? value.slice(value.indexOf(';') + 1) : value).trim().replace(/^<(.*)>$/, '$1');
  return address || undefined;
}

function statusCode(value: string | undefined): string | undefined {
  const match = value?.match(ENHANCED);
  return match ? match[0] : undefined;
}

/** The class of the failure: `5` (permanent) or `4` (transient), from the enhanced status or else the reply code. */
function failureClass(status: string | undefined, diagnostic: string | undefined): string | undefined {
  return status?.[0] ?? statusCode(diagnostic)?.[0] ?? diagnostic?.match(REPLY)?.[1]?.[0];
}

function bounceTypeOf(klass: string | undefined): MailEvent['bounceType'] {
  return klass === '5' ? 'hard' : klass === '4' ? 'soft' : 'undetermined';
}

function angleId(value: string | undefined): string | undefined {
  const id = value?.trim().match(/<[^<>\s]+>|[^<>\s]+@[^<>\s]+/)?.[0];
  if (!id) return undefined;
  return id.startsWith('<') ? id : `<${id}>`;
}

/** The Message-ID header of a header block (what comes before the first blank line). */
function messageIdIn(headers: string): string | undefined {
  const head = headers.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)[0] ?? '';
  for (const line of unfold(head)) {
    const match = line.match(/^message-id[ \t]*:[ \t]*(.*)$/i);
    if (match) return angleId(match[1]);
  }
  return undefined;
}

function headerText(parsed: ParsedMail, name: string): string | undefined {
  const value = parsed.headers.get(name);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(', ');
  return undefined;
}

function fromAddress(parsed: ParsedMail): string | undefined {
  return parsed.from?.value[0]?.address;
}

function isGoogle(parsed: ParsedMail, message: Fields): boolean {
  const domain = fromAddress(parsed)?.split('@')[1] ?? '';
  const mta = addressOf(message['reporting-mta']) ?? '';
  return GOOGLE_DOMAINS.test(domain) || GOOGLE_DOMAINS.test(mta);
}

/** Where the quoted original message starts in a plain-text bounce. */
const ORIGINAL_MARKER =
  /^.*(-{2,}\s*original message\s*-{2,}|original message follows|below this line is a copy of the message|this is a copy of the message|message headers follow).*$/im;

interface TextReport {
  recipients: string[];
  type: EventType;
  bounceType?: MailEvent['bounceType'];
  status?: string;
  diagnostic?: string;
  reason?: string;
  messageId?: string;
}

const PERMANENT_TEXT =
  /failed permanently|permanent (failure|error)|does not exist|address not found|no such user|user unknown|unknown user|mailbox unavailable|account that you tried to reach (does not exist|is disabled)/i;
const TRANSIENT_TEXT =
  /delivery incomplete|temporar(y|ily) (failure|problem|error)|will (re)?try|has not yet been delivered|still trying|delivery (has been )?delayed|message delayed/i;
const RESPONSE_INTRO =
  /(the error that the other server returned was|the response (from the remote server )?was|the error that the remote server returned was|remote server returned)\s*:?[ \t]*\n?/i;

/** What a bounce without delivery-status fields says in its text: who, how bad, and the server's reply. */
function readText(parsed: ParsedMail): TextReport {
  const body = (parsed.text ?? '').replace(/\r\n?/g, '\n');
  const marker = body.search(ORIGINAL_MARKER);
  const report = marker >= 0 ? body.slice(0, marker) : body;
  const original = marker >= 0 ? body.slice(marker) : '';

  const failed = headerText(parsed, 'x-failed-recipients')?.match(ADDRESS) ?? [];
  const own = new Set(
    [fromAddress(parsed), ...(parsed.to ? [parsed.to].flat().flatMap((a) => a.value.map((v) => v.address)) : [])]
      .filter((a): a is string => !!a)
      .map((a) => a.toLowerCase()),
  );
  const mentioned = failed.length ? [] : (report.match(ADDRESS) ?? []).filter((a) => !own.has(a.toLowerCase()));
  const recipients = [...new Map([...failed, ...mentioned].map((a) => [a.toLowerCase(), a])).values()];

  // The server's reply: the lines after "The error that the other server returned was:", else the line with a code.
  let diagnostic: string | undefined;
  const intro = report.match(RESPONSE_INTRO);
  if (intro?.index !== undefined) {
    const after = report.slice(intro.index + intro[0].length).replace(/^\s*\n/, '');
    diagnostic =
      after
        .split(/\n[ \t]*\n/)[0]
        ?.replace(/\s*\n\s*/g, ' ')
        .trim() || undefined;
  }
  if (!diagnostic)
    diagnostic = report
      .split('\n')
      .find((line) => ENHANCED.test(line) || REPLY.test(line))
      ?.trim();

  const status = statusCode(diagnostic) ?? statusCode(report);
  const klass = failureClass(status, diagnostic);
  const transient = klass === '4' || (klass !== '5' && TRANSIENT_TEXT.test(report));
  const permanent = klass === '5' || (!transient && PERMANENT_TEXT.test(report));
  const headline = report.match(/\*\*\s*([^*\n]+?)\s*\*\*/)?.[1];
  const originalId = original.match(/^message-id[ \t]*:[ \t]*(.*)$/im)?.[1];
  return {
    recipients,
    type: transient ? 'deferred' : 'bounced',
    bounceType: transient ? undefined : permanent ? 'hard' : 'undetermined',
    status,
    diagnostic,
    reason: describeStatus(status) ?? headline ?? (permanent ? 'permanent failure' : undefined),
    messageId: angleId(originalId),
  };
}

function assign(event: MailEvent, fields: Partial<MailEvent>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (event as Record<string, unknown>)[key] = value;
  }
}

const ACTIONS: Record<string, EventType> = {
  failed: 'bounced',
  delayed: 'deferred',
  delivered: 'delivered',
  relayed: 'delivered',
  expanded: 'unknown',
};

function recipientEvent(
  fields: Fields,
  message: Fields,
  common: { provider: string; messageId?: string; date?: Date },
): MailEvent {
  const action = fields.action?.trim().toLowerCase();
  const status = statusCode(fields.status);
  const diagnostic = fields['diagnostic-code'];
  const klass = failureClass(status, diagnostic);
  // No (or an unknown) Action: the status class tells what happened.
  const type: EventType =
    (action ? ACTIONS[action] : undefined) ??
    (klass === '5' ? 'bounced' : klass === '4' ? 'deferred' : status?.startsWith('2') ? 'delivered' : 'unknown');
  const event: MailEvent = {
    type,
    provider: common.provider,
    eventTime: isoTime(fields['last-attempt-date'] ?? message['arrival-date'], common.date ?? new Date()),
    raw: { message, recipient: fields },
  };
  assign(event, {
    recipient: addressOf(fields['final-recipient']) ?? addressOf(fields['original-recipient']),
    messageId: common.messageId,
    bounceType: type === 'bounced' ? bounceTypeOf(klass) : undefined,
    reason:
      action === 'expanded'
        ? 'expanded: the recipient is a list or alias that forwarded the message to its members'
        : (describeStatus(status) ?? (action && !ACTIONS[action] ? `unrecognized DSN action ${action}` : undefined)),
    diagnostic,
    status,
  });
  return event;
}

/**
 * The MailEvents of one delivery status notification: one per recipient block of its delivery-status part (failed ->
 * bounced, hard for 5.x.x and soft for 4.x.x; delayed -> deferred; delivered/relayed -> delivered; expanded ->
 * unknown), or, when that part is empty or missing, one per failed recipient its text names. `messageId` is the
 * returned message's Message-ID. Anything that is not a DSN is refused with 400.
 */
export async function dsnEvents(eml: string | Buffer, options: DsnOptions = {}): Promise<MailEvent[]> {
  let parsed: ParsedMail;
  try {
    parsed = await simpleParser(eml, { keepDeliveryStatus: true, skipImageLinks: true, skipTextLinks: true });
  } catch (error) {
    throw new EventRejectedError('dsn', 'not a delivery status notification: the message cannot be parsed', 400, {
      cause: error,
    });
  }
  const contentType = parsed.headers.get('content-type') as { value?: string; params?: Record<string, string> };
  const reportType = contentType?.params?.['report-type']?.toLowerCase();
  const isReport = contentType?.value?.toLowerCase() === 'multipart/report' && reportType === 'delivery-status';
  const statusParts = parsed.attachments.filter((a) => STATUS_PARTS.has(a.contentType.toLowerCase()));
  const returned = parsed.attachments.find((a) => RETURNED_PARTS.has(a.contentType.toLowerCase()));
  const daemon = DAEMON.test(fromAddress(parsed)?.split('@')[0] ?? '');
  const looksLikeBounce =
    reportType === undefined &&
    daemon &&
    (headerText(parsed, 'x-failed-recipients') !== undefined || BOUNCE_SUBJECT.test(parsed.subject ?? ''));
  if (!isReport && statusParts.length === 0 && !looksLikeBounce) {
    throw new EventRejectedError('dsn', 'not a delivery status notification', 400);
  }

  const { message, recipients } = parseDeliveryStatus(statusParts.map((p) => p.content.toString('utf8')).join('\n\n'));
  const provider = options.provider ?? (isGoogle(parsed, message) ? 'gmail' : 'smtp');
  const returnedId = returned ? messageIdIn(returned.content.toString('utf8')) : undefined;

  if (recipients.length > 0) {
    return recipients.map((fields) =>
      recipientEvent(fields, message, { provider, messageId: returnedId, date: parsed.date }),
    );
  }

  // No per-recipient fields (Google Workspace's empty part, old Gmail's plain text): read the human-readable text.
  const text = readText(parsed);
  const messageId = returnedId ?? text.messageId;
  const make = (recipient: string | undefined): MailEvent => {
    const event: MailEvent = {
      type: text.type,
      provider,
      eventTime: isoTime(message['arrival-date'] ?? parsed.date?.toISOString()),
      raw: {
        source: 'text',
        subject: parsed.subject,
        from: fromAddress(parsed),
        failedRecipients: headerText(parsed, 'x-failed-recipients'),
        message,
      },
    };
    assign(event, {
      recipient,
      messageId,
      bounceType: text.bounceType,
      reason: text.reason,
      diagnostic: text.diagnostic,
      status: text.status,
    });
    return event;
  };
  return text.recipients.length > 0 ? text.recipients.map(make) : [make(undefined)];
}
