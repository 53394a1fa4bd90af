import { deadLetterFields } from '../../core/runtime/dead-letter.ts';
import type { DeadLetterSink } from '../../core/runtime/queue-batch.ts';
import type { ReadEvent } from './pubsub-event.ts';
import { failedTopic } from './topics.ts';

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
 * and `reason`, `errorCode`, `sourceMessageId`, `deliveryAttempt` (when Pub/Sub said; core/runtime/dead-letter.ts).
 * Throws when the topic cannot take it, so the event is answered with an error and Pub/Sub delivers it again. The
 * call's signal bounds the token fetch and the publish request (the publisher has no retries of its own).
 */
export function failedTopicSink(read: ReadEvent): DeadLetterSink {
  return async (record, reason, failure, call = {}) => {
    const { errorCode, sourceMessageId, receiveCount } = deadLetterFields(record, reason, failure);
    const attributes: Record<string, string> = {
      ...read.attributes,
      reason: fitBytes(reason),
      errorCode,
      sourceMessageId,
    };
    if (receiveCount) attributes.deliveryAttempt = String(receiveCount);
    await (await failedTopic()).publish({ data: read.original, attributes }, undefined, call);
  };
}
