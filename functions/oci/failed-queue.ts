import type { AuthenticationDetailsProvider } from 'oci-common';
import type { QueueClient } from 'oci-queue';
import { deadLetterFields } from '../../core/runtime/dead-letter.ts';
import type { DeadLetterSink } from '../../core/runtime/queue-batch.ts';
import { queueOf } from './queues.ts';

/** The channel of the failed queue that permanent failures are put on, so its readers can filter for them. */
export const FAILED_CHANNEL = 'mailroute-failed';

/**
 * Sets a permanent failure aside at once on the failed queue (`MAILROUTE_FAILED_QUEUE_ID` at
 * `MAILROUTE_FAILED_QUEUE_ENDPOINT`): the ORIGINAL content, on channel `mailroute-failed`, with custom properties
 * `reason`, `errorCode`, `sourceMessageId` and `deliveryCount` (core/runtime/dead-letter.ts). Throws when the queue
 * refuses it, so the record is retried rather than lost. A call with a signal (the batch's dead-letter deadline)
 * goes through a client made for it, whose requests the signal cancels (the SDK's retries are off). Connector Hub
 * redelivers a whole batch when any record fails, so a record this container has already set aside is not put
 * again (another container would put it again: readers may see a `sourceMessageId` twice).
 */
export function failedQueueSink(env: NodeJS.ProcessEnv = process.env): DeadLetterSink {
  const written = new Set<string>();
  let auth: AuthenticationDetailsProvider | undefined;
  let client: QueueClient | undefined;
  return async (record, reason, failure, call = {}) => {
    const { queueId, endpoint } = queueOf(env, 'MAILROUTE_FAILED_QUEUE', 'nowhere to put a permanent failure');
    if (written.has(record.id)) return;
    // The OCI SDK loads with the first dead letter: most instances never write one.
    const [{ createOciQueueClient, putOciQueueMessage }, { ociAuthFromEnv }] = await Promise.all([
      import('../../client/oci.ts'),
      import('../../client/oci-sdk.ts'),
    ]);
    auth ??= ociAuthFromEnv(env);
    if (!call.signal) client ??= createOciQueueClient(endpoint, auth);
    const through = call.signal ? createOciQueueClient(endpoint, auth, { signal: call.signal }) : client!;
    const { body, errorCode, sourceMessageId, receiveCount } = deadLetterFields(record, reason, failure);
    const customProperties: Record<string, string> = { reason: reason.slice(0, 512), errorCode, sourceMessageId };
    if (receiveCount) customProperties.deliveryCount = String(receiveCount);
    await putOciQueueMessage(through, queueId, {
      content: body,
      metadata: { channelId: FAILED_CHANNEL, customProperties },
    });
    written.add(record.id);
  };
}
