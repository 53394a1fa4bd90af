import type { Context } from '@fnproject/fdk';
import { runBatch } from '../../core/runtime/invocation.ts';
import { connectorHubRecords } from './batch-input.ts';
import { fnEnd, mailer } from './config.ts';
import { failedQueueSink } from './failed-queue.ts';
import { log } from './log.ts';

const deadLetter = failedQueueSink();

/**
 * A Connector Hub batch from the send queue. Connector Hub has no partial batch failure: when the function
 * fails, every message of the batch becomes visible again (its delivery count raised), and after the queue's
 * `dead_letter_queue_delivery_count` a message moves to the queue's own DLQ. So: the runtime sends the batch
 * (core/runtime/invocation.ts) and puts permanent failures on the failed queue at once; if any record must be
 * retried (among them one whose failed-queue write failed or did not finish before its deadline), the invocation
 * fails, before `Fn-Deadline` (the redelivered batch's sent records come back as duplicates, sending nothing);
 * otherwise it answers a summary and the batch is deleted.
 */
export async function handleBatch(payload: string, context: Context): Promise<Record<string, number>> {
  const outcomes = await runBatch(connectorHubRecords(payload), { mailer, log, end: fnEnd(context), deadLetter });
  const count = (status: string) => outcomes.filter((o) => o.status === status).length;
  const summary = { records: outcomes.length, sent: count('sent'), duplicate: count('duplicate') };
  const retry = outcomes.filter((o) => o.status === 'retry').map((o) => o.id);
  if (retry.length > 0) {
    log.warn('batch fails so that Connector Hub delivers it again', { ...summary, retry });
    throw new Error(`${retry.length} of ${outcomes.length} record(s) to retry: ${retry.join(', ')}`);
  }
  return { ...summary, deadLettered: count('dead-letter') };
}
