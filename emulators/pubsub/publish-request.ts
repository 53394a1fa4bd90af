import type { RestError } from './google-rest.ts';

/** A message as the publish request carried it, checked and decoded. */
export interface PublishedMessage {
  /** `data` decoded from base64. */
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey?: string;
}

/** Pub/Sub's documented limits (cloud.google.com/pubsub/quotas#resource_limits). */
export const PUBSUB_LIMITS = {
  /** A publish request, data and attributes decoded: 10 MB. */
  requestBytes: 10_000_000,
  messagesPerRequest: 1000,
  attributesPerMessage: 100,
  attributeKeyBytes: 256,
  attributeValueBytes: 1024,
  orderingKeyBytes: 1024,
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
const invalid = (message: string): RestError => ({ status: 400, message });

/**
 * Checks a `topics.publish` body (`{ messages: [{ data, attributes, orderingKey }] }`) as Pub/Sub does: base64
 * data (standard or URL-safe, as proto3 JSON reads bytes), no empty message, attribute and ordering-key limits,
 * and the request's decoded size.
 */
export function readPublishRequest(text: string, maxRequestBytes: number): PublishedMessage[] | RestError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return invalid(`Invalid JSON payload received. ${(error as Error).message}`);
  }
  const list = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(list) || list.length === 0) return invalid('The request must contain at least one message.');
  if (list.length > PUBSUB_LIMITS.messagesPerRequest) {
    return invalid(`The number of messages in the request exceeds the limit: ${PUBSUB_LIMITS.messagesPerRequest}.`);
  }
  const out: PublishedMessage[] = [];
  let size = 0;
  for (const [i, raw] of list.entries()) {
    const m = (raw ?? {}) as { data?: unknown; attributes?: unknown; orderingKey?: unknown };
    const data = m.data ?? '';
    if (typeof data !== 'string' || !(BASE64.test(data) || BASE64_URL.test(data))) {
      return invalid(`Invalid value at 'messages[${i}].data' (TYPE_BYTES), Base64 decoding failed`);
    }
    const attributes = m.attributes ?? {};
    const entries = typeof attributes === 'object' && !Array.isArray(attributes) ? Object.entries(attributes) : [];
    if (entries.length !== Object.keys(attributes).length || entries.some(([, v]) => typeof v !== 'string')) {
      return invalid(`Invalid value at 'messages[${i}].attributes': a map of strings`);
    }
    if (entries.length > PUBSUB_LIMITS.attributesPerMessage) {
      return invalid(`Too many attributes in message ${i}: the limit is ${PUBSUB_LIMITS.attributesPerMessage}.`);
    }
    for (const [key, value] of entries as [string, string][]) {
      if (key.startsWith('goog'))
        return invalid(`The attribute key "${key}" is reserved (keys may not start with goog).`);
      if (bytes(key) > PUBSUB_LIMITS.attributeKeyBytes || bytes(value) > PUBSUB_LIMITS.attributeValueBytes) {
        return invalid(`An attribute key or value of message ${i} is too long (key 256 bytes, value 1024 bytes).`);
      }
      size += bytes(key) + bytes(value);
    }
    const orderingKey = m.orderingKey ?? '';
    if (typeof orderingKey !== 'string' || bytes(orderingKey) > PUBSUB_LIMITS.orderingKeyBytes) {
      return invalid(`The ordering key of message ${i} must be a string of at most 1024 bytes.`);
    }
    const decoded = Buffer.from(data, data.includes('-') || data.includes('_') ? 'base64url' : 'base64');
    if (decoded.length === 0 && entries.length === 0) {
      return invalid('Some messages are empty: each message must contain non-empty data, or at least one attribute.');
    }
    size += decoded.length + bytes(orderingKey);
    out.push({
      data: decoded,
      attributes: Object.fromEntries(entries) as Record<string, string>,
      ...(orderingKey ? { orderingKey } : {}),
    });
  }
  if (size > maxRequestBytes) return invalid(`Request payload size exceeds the limit: ${maxRequestBytes} bytes.`);
  return out;
}
