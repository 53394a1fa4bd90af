import { app, type InvocationContext } from '@azure/functions';
import { runRecord } from '../../core/runtime/invocation.ts';
import { scrubLogText } from '../../core/runtime/send-report.ts';
import { SEND_QUEUE_FUNCTION, SEND_QUEUE_TRIGGER } from './bindings.ts';
import { mailer } from './config.ts';
import { failedQueueSink } from './failed-queue.ts';
import { functionEnd, MARGIN_MS, setAsideFields } from './host.ts';
import { invocationLog } from './log.ts';
import { toQueueRecord } from './queues.ts';

/**
 * Storage Queue trigger: one message per invocation, as the host delivers it (base64-decoded; JSON parsed by the
 * worker), with `triggerMetadata.id` (the idempotency key when the message has none) and `dequeueCount`.
 * - sent, duplicate: return; the host deletes the message.
 * - dead-letter (not JSON, invalid, recipients rejected, ambiguous delivery): written at once, with its reason, to
 *   the failed queue (`MAILROUTE_FAILED_QUEUE`), then return: acknowledged, never retried.
 * - retry (throttled, provider down, deadline, the failed queue unreachable or not answering in time, a broken
 *   cold start): throw, in time. The host makes the message visible again after host.json's `visibilityTimeout`
 *   and, once it has been dequeued `maxDequeueCount` times, moves it to `<queue>-poison`, with its original text.
 */
export async function sendQueuedMessage(item: unknown, context: InvocationContext): Promise<void> {
  const record = toQueueRecord(item, context.triggerMetadata);
  const outcome = await runRecord(record, {
    ...{ mailer, log: invocationLog(context), end: functionEnd(), marginMs: MARGIN_MS },
    deadLetter: failedQueueSink(),
    recordFields: (done) => setAsideFields(done, record),
  });
  if (outcome.status === 'retry') throw new Error(scrubLogText('reason', `retry through the queue: ${outcome.reason}`));
}

app.storageQueue(SEND_QUEUE_FUNCTION, { ...SEND_QUEUE_TRIGGER, handler: sendQueuedMessage });
