import { EventRejectedError } from '../../errors.ts';
import { type EventType, isoTime, type MailEvent } from '../event.ts';

/**
 * Azure Communication Services email events, delivered by Event Grid to a webhook.
 *
 * A plain parser, not `@azure/eventgrid`: its `EventGridDeserializer` refuses a whole batch on one odd event, and the
 * data types its `isSystemEvent` narrows to name the fields differently from what Event Grid sends
 * (`deliveryAttemptTimestamp` and `engagement` in the SDK, `deliveryAttemptTimeStamp` and `engagementType` on the
 * wire, as in Microsoft's own samples), so the narrowed types would mislead. Both spellings are read here.
 */

/** The header Event Grid sets on every delivery: `SubscriptionValidation`, `Notification` or `SubscriptionDeletion`. */
export const EVENT_GRID_VALIDATION_HEADER = 'aeg-event-type';

export const SUBSCRIPTION_VALIDATION_EVENT = 'Microsoft.EventGrid.SubscriptionValidationEvent';
export const EMAIL_DELIVERY_REPORT_EVENT = 'Microsoft.Communication.EmailDeliveryReportReceived';
export const EMAIL_ENGAGEMENT_EVENT = 'Microsoft.Communication.EmailEngagementTrackingReportReceived';

/** Header maps as the runtimes give them: fetch `Headers`, Node's `IncomingHttpHeaders`, or a plain record. */
export type HeaderBag =
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>
  | undefined;

function header(headers: HeaderBag, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null | undefined }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether Event Grid sent this request to validate a new subscription (`aeg-event-type: SubscriptionValidation`). */
export function isValidationRequest(headers: HeaderBag): boolean {
  return header(headers, EVENT_GRID_VALIDATION_HEADER)?.trim().toLowerCase() === 'subscriptionvalidation';
}

/**
 * The CloudEvents 1.0 abuse-protection handshake: Event Grid sends `OPTIONS` with `WebHook-Request-Origin` to an
 * endpoint subscribed with the CloudEvents schema (there is no validation event in that schema). Returns the headers to
 * answer with (status 200), or undefined when the request is not that handshake.
 */
export function cloudEventsHandshake(headers: HeaderBag): Record<string, string> | undefined {
  const origin = header(headers, 'webhook-request-origin')?.trim();
  if (!origin) return undefined;
  return { 'WebHook-Allowed-Origin': origin, 'WebHook-Allowed-Rate': '*' };
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

/** `<id@host>`: ACS's `internetMessageId` may come with or without the angle brackets. */
function angleId(value: unknown): string | undefined {
  const id = text(value);
  if (!id) return undefined;
  return id.startsWith('<') ? id : `<${id}>`;
}

/** One event of the batch, in whichever of the two schemas Event Grid used. */
interface GridEvent {
  type: string;
  time?: string;
  data: Json;
}

function readEvent(value: unknown, index: number): GridEvent {
  if (!isObject(value)) throw new EventRejectedError('acs', `event ${index} of the batch is not an object`, 400);
  // Event Grid schema: eventType/eventTime; CloudEvents 1.0: type/time (and specversion).
  const type = text(value.eventType) ?? text(value.type);
  if (!type) throw new EventRejectedError('acs', `event ${index} of the batch has no eventType or type`, 400);
  const time = text(value.eventTime) ?? text(value.time);
  return { type, time, data: isObject(value.data) ? value.data : {} };
}

/** ACS delivery report statuses, compared case-insensitively: `Delivered`, `Bounced`, ... */
const DELIVERY_STATUS: Record<
  string,
  { type: EventType; bounceType?: MailEvent['bounceType']; reason?: (message?: string) => string | undefined }
> = {
  delivered: { type: 'delivered' },
  bounced: { type: 'bounced', bounceType: 'hard' },
  // ACS's own suppression list refused it: nothing was sent.
  suppressed: { type: 'rejected', reason: () => 'Suppressed' },
  failed: { type: 'failed' },
  quarantined: { type: 'rejected', reason: () => 'Quarantined' },
  filteredspam: { type: 'rejected', reason: () => 'FilteredSpam' },
  expanded: {
    type: 'unknown',
    reason: (message) =>
      `Expanded: the recipient is a distribution list, expanded to its members${message ? ` (${message})` : ''}`,
  },
};

function deliveryReport(event: GridEvent, raw: unknown): MailEvent {
  const { data } = event;
  const status = text(data.status);
  const details = isObject(data.deliveryStatusDetails) ? data.deliveryStatusDetails : {};
  const statusMessage = text(details.statusMessage);
  const known = status ? DELIVERY_STATUS[status.toLowerCase()] : undefined;
  const out: MailEvent = {
    type: known?.type ?? 'unknown',
    provider: 'acs',
    eventTime: isoTime(text(data.deliveryAttemptTimeStamp) ?? text(data.deliveryAttemptTimestamp) ?? event.time),
    raw,
  };
  const reason = known
    ? (known.reason?.(statusMessage) ?? statusMessage)
    : `unrecognized ACS status ${status ?? '(none)'}${statusMessage ? `: ${statusMessage}` : ''}`;
  assign(out, {
    recipient: text(data.recipient),
    providerMessageId: text(data.messageId),
    messageId: angleId(data.internetMessageId),
    bounceType: known?.bounceType,
    reason,
    diagnostic: statusMessage,
  });
  return out;
}

function engagementReport(event: GridEvent, raw: unknown): MailEvent {
  const { data } = event;
  // `engagementType` on the wire (`View` in some samples, `view` in Microsoft's); `engagement` in the SDK's types.
  const engagement = (text(data.engagementType) ?? text(data.engagement))?.toLowerCase();
  const type: EventType = engagement === 'view' ? 'opened' : engagement === 'click' ? 'clicked' : 'unknown';
  const out: MailEvent = {
    type,
    provider: 'acs',
    eventTime: isoTime(text(data.userActionTimeStamp) ?? text(data.userActionTimestamp) ?? event.time),
    raw,
  };
  assign(out, {
    // Microsoft's own sample has no recipient: it stays absent, correlation finds it by the operation id.
    recipient: text(data.recipient),
    providerMessageId: text(data.messageId),
    messageId: angleId(data.internetMessageId),
    url: type === 'clicked' ? text(data.engagementContext) : undefined,
    userAgent: text(data.userAgent),
    reason: type === 'unknown' ? `unrecognized engagement type ${engagement ?? '(none)'}` : undefined,
  });
  return out;
}

function otherEvent(event: GridEvent, raw: unknown): MailEvent {
  const out: MailEvent = { type: 'unknown', provider: 'acs', eventTime: isoTime(event.time), raw };
  assign(out, {
    reason: event.type,
    recipient: text(event.data.recipient),
    providerMessageId: text(event.data.messageId),
  });
  return out;
}

/** Sets only the fields that have a value, so the event carries no `undefined` keys. */
function assign(event: MailEvent, fields: Partial<MailEvent>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (event as Record<string, unknown>)[key] = value;
  }
}

/**
 * Every event of an Event Grid delivery, in order. A subscription validation event gives `validationCode` (answer
 * `{ validationResponse: validationCode }` with 200) and no MailEvent; every other event gives one MailEvent, event
 * types this module does not know included (as `unknown`, the Event Grid type in `reason`). The body is the parsed
 * JSON: an array (the Event Grid schema always batches) or one CloudEvents object.
 */
export function eventGridEvents(body: unknown): { validationCode?: string; events: MailEvent[] } {
  const batch = Array.isArray(body) ? body : isObject(body) ? [body] : undefined;
  if (!batch) throw new EventRejectedError('acs', 'the body is not an Event Grid event or array of events', 400);
  const result: { validationCode?: string; events: MailEvent[] } = { events: [] };
  batch.forEach((raw, index) => {
    const event = readEvent(raw, index);
    switch (event.type) {
      case SUBSCRIPTION_VALIDATION_EVENT: {
        const code = text(event.data.validationCode);
        if (!code) throw new EventRejectedError('acs', 'the subscription validation event has no validationCode', 400);
        result.validationCode = code;
        break;
      }
      case EMAIL_DELIVERY_REPORT_EVENT:
        result.events.push(deliveryReport(event, raw));
        break;
      case EMAIL_ENGAGEMENT_EVENT:
        result.events.push(engagementReport(event, raw));
        break;
      default:
        result.events.push(otherEvent(event, raw));
    }
  });
  return result;
}
