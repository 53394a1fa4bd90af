import type { CloudEvent } from '@google-cloud/functions-framework';
import type { QueueRecord } from '../../core/runtime/queue-batch.ts';

/** What Eventarc delivers for a Pub/Sub message: its `data.message` is this `PubSubMessage`. */
export const MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';
type PubSubMessage = { data?: string; attributes?: Record<string, string>; messageId?: string; message_id?: string };

/** A CloudEvent read as a queue record, or as malformed (and why), either way with what a dead letter keeps. */
export type ReadEvent = { record: QueueRecord; original: Buffer; attributes: Record<string, string> } & (
  | { ok: true }
  | { ok: false; failure: { reason: string; errorCode: 'MALFORMED_EVENT' } }
);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Buffer.isBuffer(v);
const isText = (entry: [string, unknown]): entry is [string, string] => typeof entry[1] === 'string';
/** At most 95 string attributes: Pub/Sub allows 100 on a message, and a dead letter adds 5. */
const stringsOf = (value: unknown): Record<string, string> =>
  isObject(value) ? Object.fromEntries(Object.entries(value).filter(isText).slice(0, 95)) : {};
const malformed = (why: string) => ({ reason: `MALFORMED_EVENT: ${why}`, errorCode: 'MALFORMED_EVENT' as const });

/** Why an event is not a Pub/Sub message with data (so it is malformed), or undefined when it is one. */
function whyMalformed(type: string | undefined, message: PubSubMessage | undefined): string | undefined {
  if (type && type !== MESSAGE_PUBLISHED) return `type ${type} is not ${MESSAGE_PUBLISHED}`;
  if (!message) return 'the event has no data.message (is the trigger a Pub/Sub topic?)';
  if (typeof message.data !== 'string' || !message.data) return 'the Pub/Sub message has no data';
  return BASE64.test(message.data) ? undefined : 'the Pub/Sub message data is not base64';
}

/**
 * A `messagePublished` CloudEvent (binary or structured mode) → the record `runRecord` sends: the decoded message
 * data as the body, the Pub/Sub message id as the id (the idempotency key when the message has none). An event
 * without a Pub/Sub message with data is malformed: it is dead-lettered (`MALFORMED_EVENT`), never retried.
 */
export function readPubSubEvent(event: CloudEvent<unknown>): ReadEvent {
  const data: unknown = event.data;
  const message = isObject(data) && isObject(data.message) ? (data.message as PubSubMessage) : undefined;
  const why = whyMalformed(event.type, message);
  const raw = Buffer.isBuffer(data)
    ? data
    : Buffer.from(typeof data === 'string' ? data : (JSON.stringify(data) ?? ''));
  const original = why ? raw : Buffer.from(message?.data ?? '', 'base64');
  const attempt =
    isObject(data) && typeof data.deliveryAttempt === 'number' ? { receiveCount: data.deliveryAttempt } : {};
  const id = String(message?.messageId ?? message?.message_id ?? event.id ?? 'unknown');
  const attributes = stringsOf(message?.attributes);
  const read = { record: { id, body: original.toString('utf8'), ...attempt }, original, attributes };
  return why ? { ok: false, failure: malformed(why), ...read } : { ok: true, ...read };
}
