import type { QueueRecord, RecordFailure } from './queue-batch.ts';

/** What every cloud writes with a dead letter, whatever its queue calls the fields. */
export interface DeadLetterFields {
  /** The ORIGINAL body, as the queue delivered it: a redrive sends exactly that. */
  body: string;
  reason: string;
  /** The failure's `errorCode` (`UNKNOWN` when the sink was called without one). */
  errorCode: string;
  /** The queue's id of the record, the idempotency key when the message has none. */
  sourceMessageId: string;
  /** How many times the queue had delivered it, when it says. */
  receiveCount?: number;
  /** The field issues of an invalid message. */
  issues?: unknown;
}

/**
 * The dead-letter record of a failed queue record, in one place for the four clouds: each sink maps these fields
 * to its queue (SQS attributes, a Storage Queue JSON message, Pub/Sub attributes, OCI custom properties).
 */
export function deadLetterFields(record: QueueRecord, reason: string, failure?: RecordFailure): DeadLetterFields {
  return {
    body: record.body,
    reason,
    errorCode: failure?.errorCode ?? 'UNKNOWN',
    sourceMessageId: record.id,
    ...(record.receiveCount ? { receiveCount: record.receiveCount } : {}),
    ...(failure?.error?.issues ? { issues: failure.error.issues } : {}),
  };
}
