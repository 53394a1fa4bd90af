import type { CloudEvent } from '@google-cloud/functions-framework';
import type { DeadLetterSink, QueueRecord } from '../../core/queue-batch.ts';
import { failedTopic } from './runtime.ts';

export const MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

/** What Eventarc delivers for a Pub/Sub message: the `data` of a `messagePublished` CloudEvent. */
export interface MessagePublishedData {
  message?: {
    data?: string;
    attributes?: Record<string, string>;
    messageId?: string;
    message_id?: string;
    publishTime?: string;
    orderingKey?: string;
  };
  subscription?: string;
  deliveryAttempt?: number;
}

/** A CloudEvent read as a queue record, or as malformed (with why), either way with what a dead-letter keeps. */
export type ReadEvent = { record: QueueRecord; original: Buffer; attributes: Record<string, string> } & (
  | { ok: true }
  | { ok: false; reason: string }
);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Buffer.isBuffer(v);

/**
 * A `messagePublished` CloudEvent (binary or structured mode) → the record `processRecord` sends: the decoded
 * message data as the body, the Pub/Sub message id as the id (the idempotency key when the message has none).
 * An event without a Pub/Sub message with data is malformed: it is dead-lettered, never retried.
 */
export function readPubSubEvent(event: CloudEvent<unknown>): ReadEvent {
  const data: unknown = event.data;
  const raw = Buffer.isBuffer(data)
    ? data
    : Buffer.from(typeof data === 'string' ? data : (JSON.stringify(data) ?? ''));
  const message =
    isObject(data) && isObject(data.message) ? (data.message as MessagePublishedData['message'] & {}) : undefined;
  const id = String(message?.messageId ?? message?.message_id ?? event.id ?? 'unknown');
  const attributes = isObject(message?.attributes) ? stringsOf(message.attributes) : {};
  const attempt =
    isObject(data) && typeof data.deliveryAttempt === 'number' ? { receiveCount: data.deliveryAttempt } : {};
  const malformed = (why: string): ReadEvent => ({
    ok: false,
    reason: `MALFORMED_EVENT: ${why}`,
    record: { id, body: raw.toString('utf8'), ...attempt },
    original: raw,
    attributes,
  });
  if (event.type && event.type !== MESSAGE_PUBLISHED)
    return malformed(`type ${event.type} is not ${MESSAGE_PUBLISHED}`);
  if (!message) return malformed('the event has no data.message (is the trigger a Pub/Sub topic?)');
  if (typeof message.data !== 'string' || !message.data) return malformed('the Pub/Sub message has no data');
  if (!BASE64.test(message.data)) return malformed('the Pub/Sub message data is not base64');
  const original = Buffer.from(message.data, 'base64');
  const record = { id, body: original.toString('utf8'), ...attempt };
  return { ok: true, record, original, attributes };
}

function stringsOf(value: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string');
  return Object.fromEntries(entries.slice(0, 95)); // Pub/Sub allows 100 attributes; 5 are ours
}

/** A string cut to at most `max` UTF-8 bytes (a Pub/Sub attribute value holds 1024). */
function fitBytes(text: string, max = 1024): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= max
    ? text
    : bytes
        .subarray(0, max)
        .toString('utf8')
        .replace(/\uFFFD+$/, '');
}

/**
 * Publishes a permanent failure to `MAILROUTE_FAILED_TOPIC` at once: the ORIGINAL data, the original attributes,
 * and `reason`, `errorCode`, `sourceMessageId`, `deliveryAttempt` (when Pub/Sub said). Throws when the topic
 * cannot take it, so the event is answered with an error and Pub/Sub delivers it again. The call's signal bounds
 * the token fetch and the publish request (the publisher has no retries of its own).
 */
export function deadLetterFor(read: ReadEvent): DeadLetterSink {
  return async (record, reason, error, call = {}) => {
    const errorCode = typeof error?.code === 'string' ? error.code : (/^[A-Z_]+(?=:)/.exec(reason)?.[0] ?? 'UNKNOWN');
    const attributes = {
      ...read.attributes,
      reason: fitBytes(reason),
      errorCode,
      sourceMessageId: record.id,
      ...(record.receiveCount ? { deliveryAttempt: String(record.receiveCount) } : {}),
    };
    await failedTopic().publish({ data: read.original, attributes }, undefined, call);
  };
}
