import { app, type InvocationContext } from '@azure/functions';
import { processRecord } from '../../core/queue-batch.ts';
import { scrubLogText } from '../../core/send-report.ts';
import { SEND_QUEUE_FUNCTION, SEND_QUEUE_SETTING, SEND_QUEUE_TRIGGER } from './bindings.ts';
import { mailerOnce, maxDequeueCount, queueDeadlinesFrom } from './config.ts';
import { logFailure, logRecord } from './log.ts';
import { failedQueueSink, toQueueRecord } from './storage.ts';

/**
 * Storage Queue trigger: one message per invocation, as the host delivers it (base64-decoded; JSON parsed by the
 * worker), with `triggerMetadata.id` (the idempotency key when the message has none) and `dequeueCount`.
 * - sent, duplicate: return; the host deletes the message.
 * - dead-letter (not JSON, invalid, recipients rejected, ambiguous delivery): written at once, with its reason, to
 *   the failed queue (`MAILROUTE_FAILED_QUEUE`), then return: acknowledged, never retried.
 * - retry (throttled, provider down, deadline, the failed queue unreachable or not answering before the
 *   failed-queue write's deadline, `queueDeadlinesFrom`): throw, in time. The host makes the message
 *   visible again after host.json's `visibilityTimeout` and, once it has been dequeued `maxDequeueCount` times,
 *   moves it to `<queue>-poison`. On that last dequeue we still throw: the poison queue is where a message that
 *   kept failing belongs, with its original text, and the host moves it there only when the invocation fails.
 * Concurrency per instance is host.json's batchSize + newBatchThreshold (4 + 2): small, since ACS takes 30 a
 * minute; the pacing itself is the router's rate limit, shared by all instances through the state table.
 */
export async function sendQueuedMessage(item: unknown, context: InvocationContext): Promise<void> {
  const startedAt = Date.now();
  const record = toQueueRecord(item, context.triggerMetadata);
  // A broken configuration fails the invocation: the message is retried (and poisoned) like any other failure.
  const mailer = await mailerOnce().catch((error: unknown) => {
    logFailure(context, error);
    throw error;
  });
  const outcome = await processRecord(record, {
    mailer,
    deadLetter: failedQueueSink(),
    ...queueDeadlinesFrom(startedAt),
  });
  const poisonNext = outcome.status === 'retry' && (record.receiveCount ?? 1) >= maxDequeueCount();
  const queue = process.env[SEND_QUEUE_SETTING];
  logRecord(context, outcome, {
    dequeueCount: record.receiveCount,
    ...(outcome.status === 'dead-letter' ? { setAside: 'failed-queue' } : {}),
    ...(poisonNext ? { setAside: 'poison-queue', poisonQueue: `${queue}-poison` } : {}),
  });
  if (outcome.status === 'retry') throw new Error(scrubLogText('reason', `retry through the queue: ${outcome.reason}`));
}

app.storageQueue(SEND_QUEUE_FUNCTION, { ...SEND_QUEUE_TRIGGER, handler: sendQueuedMessage });
