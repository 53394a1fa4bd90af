import { EventRejectedError } from '../../errors.ts';
import { type EventType, isoTime, type MailEvent } from '../event.ts';

/**
 * OCI Email Delivery log records, as Connector Hub (Service Connector) hands them to a function: an array of Logging
 * records `{ data, id, oracle: { compartmentid, ingestedtime, loggroupid, tenantid }, source, specversion, time, type }`.
 *
 * Oracle publishes no sample record. The field names follow the Logging reference for Email Delivery
 * (https://docs.oracle.com/iaas/Content/Logging/Reference/details_for_emaildelivery.htm): `recipient`, `sender`,
 * `action`, `errorType`, `smtpStatus`, `messageId`; for relayed logs also `bounceCategory`, `receivingDomain`,
 * `recipientIp`, `userAgent`. Oracle says automated readers must tolerate unknown `action` and `errorType` values;
 * this one does (as `unknown` events, or with the value in `reason`).
 */

export const OCI_ACCEPTED_TYPE = 'com.oraclecloud.emaildelivery.emaildomain.outboundaccepted';
export const OCI_RELAYED_TYPE = 'com.oraclecloud.emaildelivery.emaildomain.outboundrelayed';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== ''
    ? value.trim()
    : typeof value === 'number'
      ? String(value)
      : undefined;

/** The RFC 3463 enhanced status code in an SMTP reply: `250 2.1.5 ...` gives `2.1.5`. */
function enhancedStatus(reply: string | undefined): string | undefined {
  return reply?.match(/\b([245]\.\d{1,3}\.\d{1,3})\b/)?.[1];
}

/** Hard or soft from a category (`Hard bounce`, `soft`), else from the SMTP reply's class: 5 hard, 4 soft. */
function bounceTypeOf(category: string | undefined, smtpStatus: string | undefined): MailEvent['bounceType'] {
  const named = category?.toLowerCase() ?? '';
  if (/\bhard\b|permanent/.test(named)) return 'hard';
  if (/\bsoft\b|transient|temporar/.test(named)) return 'soft';
  const reply = smtpStatus?.trim() ?? '';
  const klass = enhancedStatus(reply)?.[0] ?? reply.match(/^([245])\d\d\b/)?.[1];
  if (klass === '5') return 'hard';
  if (klass === '4') return 'soft';
  return 'undetermined';
}

const RELAYED_ACTIONS: Record<string, EventType> = {
  relay: 'delivered',
  bounce: 'bounced',
  complaint: 'complained',
  open: 'opened',
  click: 'clicked',
  unsubscribe: 'unsubscribed',
};

/** The record's category, its email fields and its time, whichever nesting the record came in. */
function unwrap(record: Json): { type?: string; fields: Json; time?: string } {
  const data = isObject(record.data) ? record.data : {};
  // Logging (and Logging Search) wrap the service's own entry: data.logContent = { type, time, data: {...fields} }.
  const content = isObject(data.logContent) ? data.logContent : undefined;
  const fields = content && isObject(content.data) ? content.data : data;
  const oracle = isObject(record.oracle) ? record.oracle : {};
  return {
    type: text(record.type) ?? text(content?.type),
    fields,
    time: text(record.time) ?? text(content?.time) ?? text(data.datetime) ?? text(oracle.ingestedtime),
  };
}

/** Our Message-ID, `<...>`: a header field when the log has one, else the messageId when it is one (`id@host`). */
function ourMessageId(fields: Json): string | undefined {
  const header = text(fields.headerMessageId) ?? text(fields.messageIdHeader) ?? text(fields['message-id']);
  // Our OCI adapter submits our Message-ID (without brackets) as SubmitEmailDetails.messageId, and the logs carry
  // that messageId: when it has the id-left@id-right form, it is ours.
  const candidate = header ?? (text(fields.messageId)?.includes('@') ? text(fields.messageId) : undefined);
  if (!candidate) return undefined;
  return candidate.startsWith('<') ? candidate : `<${candidate}>`;
}

function assign(event: MailEvent, fields: Partial<MailEvent>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (event as Record<string, unknown>)[key] = value;
  }
}

type Outcome = Pick<MailEvent, 'type' | 'reason' | 'bounceType'>;

function accepted(fields: Json): Outcome {
  const errorType = text(fields.errorType);
  // errorType is omitted on success; any value (Recipient suppressed, Invalid recipient, Daily limit reached, Reset,
  // new ones Oracle adds) means the submission was refused for that recipient.
  if (errorType) return { type: 'rejected', reason: errorType };
  const action = text(fields.action)?.toLowerCase();
  if (action === 'accept') return { type: 'queued', reason: 'accepted for delivery' };
  return { type: 'unknown', reason: `unrecognized outboundaccepted action ${action ?? '(none)'}` };
}

function relayed(fields: Json): Outcome {
  const action = text(fields.action)?.toLowerCase();
  const type = action ? RELAYED_ACTIONS[action] : undefined;
  if (!type) return { type: 'unknown', reason: `unrecognized outboundrelayed action ${action ?? '(none)'}` };
  const category = text(fields.bounceCategory);
  const errorType = text(fields.errorType);
  if (type === 'bounced') {
    return {
      type,
      bounceType: bounceTypeOf(category ?? errorType, text(fields.smtpStatus)),
      reason: category ?? errorType,
    };
  }
  return { type, reason: errorType };
}

function toEvent(record: Json, kind: 'accepted' | 'relayed', fields: Json, time: string | undefined): MailEvent {
  const outcome = kind === 'accepted' ? accepted(fields) : relayed(fields);
  const smtpStatus = text(fields.smtpStatus);
  const event: MailEvent = { type: outcome.type, provider: 'oci', eventTime: isoTime(time), raw: record };
  assign(event, {
    recipient: text(fields.recipient),
    providerMessageId: text(fields.messageId),
    messageId: ourMessageId(fields),
    bounceType: outcome.bounceType,
    reason: outcome.reason,
    diagnostic: smtpStatus,
    status: enhancedStatus(smtpStatus),
    url: outcome.type === 'clicked' ? (text(fields.url) ?? text(fields.link)) : undefined,
    userAgent: text(fields.userAgent),
  });
  return event;
}

/**
 * The MailEvents of a Connector Hub delivery of Email Delivery log records (an array, or one record), one per record
 * of the `outboundaccepted` and `outboundrelayed` categories, in order. Records of other types are skipped (compare
 * the count with the records sent); a body that holds no records at all is refused with 400.
 */
export function ociLogEvents(body: unknown): MailEvent[] {
  const records = Array.isArray(body) ? body : isObject(body) ? [body] : undefined;
  if (!records) throw new EventRejectedError('oci', 'the body is not a log record or an array of log records', 400);
  const events: MailEvent[] = [];
  records.forEach((record, index) => {
    if (!isObject(record) || (!isObject(record.data) && text(record.type) === undefined)) {
      throw new EventRejectedError('oci', `item ${index} is not a log record (no type, no data)`, 400);
    }
    const { type, fields, time } = unwrap(record);
    const category = type?.toLowerCase();
    if (category?.endsWith('emaildomain.outboundaccepted')) events.push(toEvent(record, 'accepted', fields, time));
    else if (category?.endsWith('emaildomain.outboundrelayed')) events.push(toEvent(record, 'relayed', fields, time));
  });
  return events;
}
