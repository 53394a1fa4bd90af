import { EventRejectedError } from '../../errors.ts';
import { type EventType, isoTime, type MailEvent } from '../event.ts';

/**
 * Amazon SES notifications as `MailEvent`s, one per recipient. Two record shapes carry the same objects:
 * - event publishing (a configuration set's event destination: SNS, Firehose, EventBridge's `detail`): `eventType`
 *   Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay, Open, Click, Rendering Failure, Subscription;
 * - identity feedback notifications (no configuration set): `notificationType` Bounce, Complaint, Delivery.
 * Each carries `mail` (the message: SES id, destination, headers, tags) and an object named after the event
 * (`bounce`, `complaint`, `delivery`, `deliveryDelay`, `open`, `click`, `reject`, `failure`, `subscription`).
 * See https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html and
 * https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html.
 */

type Json = Record<string, unknown>;

const TYPE_BY_SES_EVENT: Record<string, EventType> = {
  Send: 'sent',
  Delivery: 'delivered',
  Bounce: 'bounced',
  Complaint: 'complained',
  Reject: 'rejected',
  DeliveryDelay: 'deferred',
  Open: 'opened',
  Click: 'clicked',
  'Rendering Failure': 'failed',
  Subscription: 'unsubscribed',
};

const BOUNCE_TYPES: Record<string, NonNullable<MailEvent['bounceType']>> = {
  Permanent: 'hard',
  Transient: 'soft',
  Undetermined: 'undetermined',
};

/** EventBridge's detail-type for each event-publishing `eventType`, for a `detail` that lacks the field. */
const EVENT_BY_DETAIL_TYPE: Record<string, string> = {
  'Email Sent': 'Send',
  'Email Delivered': 'Delivery',
  'Email Bounced': 'Bounce',
  'Email Complaint Received': 'Complaint',
  'Email Rejected': 'Reject',
  'Email Delivery Delayed': 'DeliveryDelay',
  'Email Opened': 'Open',
  'Email Clicked': 'Click',
  'Email Rendering Failed': 'Rendering Failure',
  'Email Subscribed': 'Subscription',
};

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** An SES record: event publishing (`eventType`) or an identity notification (`notificationType`). */
export function isSesRecord(value: unknown): value is Json & ({ eventType: string } | { notificationType: string }) {
  return isObject(value) && (text(value.eventType) !== undefined || text(value.notificationType) !== undefined);
}

/** An EventBridge event SES sent (`source: aws.ses`). */
export function isSesEventBridgeEvent(value: unknown): value is Json & { source: 'aws.ses' } {
  return isObject(value) && value.source === 'aws.ses' && typeof value['detail-type'] === 'string';
}

/** The events of one SES record (the parsed SNS `Message`, a Firehose line, EventBridge's `detail`). */
export function sesEvents(record: unknown): MailEvent[] {
  if (!isSesRecord(record)) {
    throw new EventRejectedError('ses', 'not an SES notification: it has neither eventType nor notificationType', 400);
  }
  return eventsOf(record, record, undefined);
}

/**
 * The events of an EventBridge event from SES: `detail` is the event-publishing record. SES's other EventBridge
 * events (Virtual Deliverability Manager advisor, sending status) are about the account, not a message: none.
 */
export function sesEventBridgeEvents(event: unknown): MailEvent[] {
  if (!isSesEventBridgeEvent(event)) {
    throw new EventRejectedError('ses', 'not an EventBridge event from SES (source aws.ses with a detail-type)', 400);
  }
  const detailType = String(event['detail-type']);
  const isEmailEvent = detailType.startsWith('Email ');
  if (!isEmailEvent) return [];
  const detail = event.detail;
  if (!isObject(detail) || !isObject(detail.mail)) {
    throw new EventRejectedError('ses', `EventBridge "${detailType}" event without an SES record in its detail`, 400);
  }
  const eventType = text(detail.eventType) ?? text(detail.notificationType) ?? EVENT_BY_DETAIL_TYPE[detailType];
  return eventsOf({ ...detail, eventType: eventType ?? detailType }, event, text(event.time));
}

function eventsOf(record: Json, raw: unknown, fallbackTime: string | undefined): MailEvent[] {
  const kind = text(record.eventType) ?? text(record.notificationType) ?? '';
  const mail = isObject(record.mail) ? record.mail : {};
  const base: MailEvent = { type: TYPE_BY_SES_EVENT[kind] ?? 'unknown', provider: 'ses', eventTime: '', raw };
  const providerMessageId = text(mail.messageId);
  if (providerMessageId) base.providerMessageId = providerMessageId;
  const messageId = headerMessageId(mail, providerMessageId);
  if (messageId) base.messageId = messageId;
  const tags = tagsOf(mail.tags);
  if (tags) base.tags = tags;
  const detail = detailOf(kind, record);
  base.eventTime = firstTime(detail?.timestamp, mail.timestamp, fallbackTime);
  const perRecipient = describe(kind, base, detail ?? {});
  if (perRecipient.length) return perRecipient;
  // Send, Reject, Open, Click, Rendering Failure, Subscription and anything new: the message's every recipient.
  const destination = Array.isArray(mail.destination) ? mail.destination.filter((d) => text(d) !== undefined) : [];
  if (!destination.length) return [base];
  return destination.map((recipient: string) => ({ ...base, recipient }));
}

/** The object named after the event: `bounce`, `deliveryDelay`, `failure` for Rendering Failure ... */
function detailOf(kind: string, record: Json): Json | undefined {
  const key = kind === 'Rendering Failure' ? 'failure' : kind.charAt(0).toLowerCase() + kind.slice(1);
  const detail = record[key];
  return isObject(detail) ? detail : undefined;
}

/**
 * The events of the types that name their recipients (bounce, complaint, delivery, delay), each with its own
 * facts; for the others, the shared facts set on `base` and no event (the caller makes one per destination).
 */
function describe(kind: string, base: MailEvent, detail: Json): MailEvent[] {
  switch (kind) {
    case 'Bounce': {
      const bounceType = text(detail.bounceType);
      base.bounceType = (bounceType ? BOUNCE_TYPES[bounceType] : undefined) ?? 'undetermined';
      const reason = [bounceType, text(detail.bounceSubType)].filter(Boolean).join('/');
      if (reason) base.reason = reason;
      return objects(detail.bouncedRecipients).flatMap((r) => withRecipient(base, r));
    }
    case 'Complaint': {
      base.reason = text(detail.complaintFeedbackType) ?? text(detail.complaintSubType) ?? 'complaint';
      return objects(detail.complainedRecipients).flatMap((r) => withRecipient(base, r));
    }
    case 'DeliveryDelay': {
      const delayType = text(detail.delayType);
      if (delayType) base.reason = delayType;
      return objects(detail.delayedRecipients).flatMap((r) => withRecipient(base, r));
    }
    case 'Delivery': {
      const smtpResponse = text(detail.smtpResponse);
      if (smtpResponse) {
        base.diagnostic = smtpResponse;
        const status = enhancedStatus(smtpResponse);
        if (status) base.status = status;
      }
      const recipients = Array.isArray(detail.recipients) ? detail.recipients : [];
      return recipients.flatMap((r) => (text(r) ? [{ ...base, recipient: r as string }] : []));
    }
    case 'Reject': {
      const reason = text(detail.reason);
      if (reason) base.reason = reason;
      return [];
    }
    case 'Rendering Failure': {
      const reason = text(detail.errorMessage) ?? text(detail.templateName);
      if (reason) base.reason = reason;
      return [];
    }
    case 'Open':
    case 'Click': {
      const userAgent = text(detail.userAgent);
      if (userAgent) base.userAgent = userAgent;
      const link = text(detail.link);
      if (kind === 'Click' && link) base.url = link;
      return [];
    }
    case 'Subscription':
      describeSubscription(base, detail);
      return [];
    default:
      return [];
  }
}

/** One event for one entry of bouncedRecipients / complainedRecipients / delayedRecipients. */
function withRecipient(base: MailEvent, entry: Json): MailEvent[] {
  const recipient = text(entry.emailAddress);
  if (!recipient) return [];
  const event: MailEvent = { ...base, recipient };
  const diagnostic = text(entry.diagnosticCode);
  if (diagnostic) event.diagnostic = diagnostic;
  const status = text(entry.status) ?? (diagnostic ? enhancedStatus(diagnostic) : undefined);
  if (status) event.status = status;
  return [event];
}

/**
 * A Subscription event is a change of the contact's list preferences: an unsubscribe when the contact left
 * every topic (`unsubscribeAll`) or opted out of a topic it was not opted out of before; otherwise (an opt-in,
 * no change) it is `unknown`, kept in `raw`.
 */
function describeSubscription(base: MailEvent, detail: Json): void {
  const now = isObject(detail.newTopicPreferences) ? detail.newTopicPreferences : {};
  const before = isObject(detail.oldTopicPreferences) ? detail.oldTopicPreferences : {};
  const source = text(detail.source);
  const optedOut = (preferences: Json) =>
    objects(preferences.topicSubscriptionStatus)
      .filter((t) => t.subscriptionStatus === 'OptOut')
      .map((t) => text(t.topicName))
      .filter((name): name is string => name !== undefined);
  const wasOut = new Set(optedOut(before));
  const newlyOut = optedOut(now).filter((name) => !wasOut.has(name));
  if (now.unsubscribeAll === true) {
    base.reason = source ? `${source}: all topics` : 'all topics';
  } else if (newlyOut.length) {
    base.reason = `${source ? `${source}: ` : ''}topic ${newlyOut.join(', ')}`;
  } else {
    base.type = 'unknown';
    if (source) base.reason = source;
  }
}

/** `250 2.6.0 Message received` → `2.6.0`; `smtp; 550 5.1.1 user unknown` → `5.1.1`. */
function enhancedStatus(reply: string): string | undefined {
  return /(?:^|[\s;])([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/.exec(reply)?.[1];
}

/**
 * Our Message-ID: `commonHeaders.messageId`, else the `Message-ID` header. SES's own samples put its message id
 * there when it made the header itself; that is the provider's id, already in providerMessageId, so it is left out.
 */
function headerMessageId(mail: Json, providerMessageId: string | undefined): string | undefined {
  const common = isObject(mail.commonHeaders) ? text(mail.commonHeaders.messageId) : undefined;
  const header = objects(mail.headers).find((h) => typeof h.name === 'string' && h.name.toLowerCase() === 'message-id');
  const value = (common ?? text(header?.value))?.trim();
  if (!value || value === providerMessageId) return undefined;
  return !value.startsWith('<') && value.includes('@') ? `<${value}>` : value;
}

function tagsOf(value: unknown): Record<string, string[]> | undefined {
  if (!isObject(value)) return undefined;
  const tags: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(value)) {
    if (Array.isArray(values)) tags[name] = values.filter((v): v is string => typeof v === 'string');
    else if (typeof values === 'string') tags[name] = [values];
  }
  return Object.keys(tags).length ? tags : undefined;
}

/** The first of the times that parses, as ISO 8601 UTC; now when none does. */
function firstTime(...values: unknown[]): string {
  for (const value of values) {
    if ((typeof value === 'string' || typeof value === 'number') && !Number.isNaN(new Date(value).getTime())) {
      return isoTime(value);
    }
  }
  return isoTime(undefined);
}
