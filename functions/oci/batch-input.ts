import { createHash } from 'node:crypto';
import type { QueueRecord } from '../../core/runtime/queue-batch.ts';

interface QueueMessage {
  id?: unknown;
  content?: unknown;
  deliveryCount?: unknown;
}

/** Keeps an `id` number as its JSON digits: OCI Queue ids are int64 and JSON.parse rounds those over 2^53. */
const idDigits = (key: string, value: unknown, context?: { source?: string }) =>
  key === 'id' && typeof value === 'number' ? (context?.source ?? String(value)) : value;

/**
 * The records of what Connector Hub hands the function from an OCI Queue source: a JSON array of the queue's
 * messages (GetMessages' shape: `id`, `content`, `deliveryCount`, ...), a single such message, or
 * `{ messages: [...] }`. `id` (the idempotency key when the message has none) is the queue message id; a message
 * given without one (a bare string) gets `sha256:<hex of its content>`. Throws on anything else, which fails the
 * invocation: the batch comes back and, after the queue's dead-letter delivery count, lands in its DLQ.
 */
export function connectorHubRecords(payload: string): QueueRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload, idDigits);
  } catch (error) {
    throw new Error(`the Connector Hub payload is not JSON (${(error as Error).message})`);
  }
  const wrapped = (parsed as { messages?: unknown } | null)?.messages;
  const list = Array.isArray(parsed) ? parsed : Array.isArray(wrapped) ? wrapped : [parsed];
  return list.map((item: unknown, index) => {
    if (typeof item === 'string') return { id: contentId(item), body: item };
    const message = (item ?? {}) as QueueMessage;
    if (typeof message.content !== 'string') {
      throw new Error(`the Connector Hub payload's message ${index} has no string content`);
    }
    const id = typeof message.id === 'string' || typeof message.id === 'number' ? String(message.id) : undefined;
    const count = typeof message.deliveryCount === 'number' ? message.deliveryCount : undefined;
    return {
      id: id ?? contentId(message.content),
      body: message.content,
      ...(count === undefined ? {} : { receiveCount: count }),
    };
  });
}

const contentId = (content: string) => `sha256:${createHash('sha256').update(content, 'utf8').digest('hex')}`;
