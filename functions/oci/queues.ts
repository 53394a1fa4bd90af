import type { AuthenticationDetailsProvider } from 'oci-common';
import type { QueueClient } from 'oci-queue';
import { createOciQueueClient, putOciQueueMessage } from '../../client/oci.ts';
import { ociAuthFromEnv } from '../../client/oci-sdk.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { DeadLetterSink } from '../../core/queue-batch.ts';

/** The channel of the failed queue that permanent failures are put on, so its readers can filter for them. */
export const FAILED_CHANNEL = 'mailroute-failed';

function queueOf(env: NodeJS.ProcessEnv, prefix: 'MAILROUTE_FAILED_QUEUE' | 'MAILROUTE_QUEUE', purpose: string) {
  const [idVar, endpointVar] = [`${prefix}_ID`, `${prefix}_ENDPOINT`];
  const [queueId, endpoint] = [env[idVar], env[endpointVar]];
  if (!queueId || !endpoint) {
    throw new ConfigurationError(`${idVar} and ${endpointVar} must be set: ${purpose}`, {
      issues: [queueId ? endpointVar : idVar].map((path) => ({ path, message: 'is not set' })),
    });
  }
  return { queueId, endpoint };
}

/**
 * Sets a permanent failure aside at once on the failed queue (`MAILROUTE_FAILED_QUEUE_ID` at
 * `MAILROUTE_FAILED_QUEUE_ENDPOINT`): the ORIGINAL content, on channel `mailroute-failed`, with custom properties
 * `reason`, `errorCode`, `sourceMessageId` and `deliveryCount`. Throws when the queue refuses it, so the record is
 * retried rather than lost. A call with a signal (the batch's dead-letter deadline) goes through a client made for
 * it, whose requests the signal cancels (the SDK's retries are off). Connector Hub redelivers a whole batch when
 * any record fails, so a record this container has already set aside is not put again (another container would
 * put it again: readers may see a `sourceMessageId` twice).
 */
export function failedQueueSink(env: NodeJS.ProcessEnv = process.env): DeadLetterSink {
  const written = new Set<string>();
  let auth: AuthenticationDetailsProvider | undefined;
  let client: QueueClient | undefined;
  return async (record, reason, error, call = {}) => {
    const { queueId, endpoint } = queueOf(env, 'MAILROUTE_FAILED_QUEUE', 'nowhere to put a permanent failure');
    if (written.has(record.id)) return;
    auth ??= ociAuthFromEnv(env);
    if (!call.signal) client ??= createOciQueueClient(endpoint, auth);
    const through = call.signal ? createOciQueueClient(endpoint, auth, { signal: call.signal }) : client!;
    const errorCode = typeof error?.code === 'string' ? error.code : (/^[A-Z_]+(?=:)/.exec(reason)?.[0] ?? 'UNKNOWN');
    const customProperties = {
      reason: reason.slice(0, 512),
      errorCode,
      sourceMessageId: record.id,
      ...(record.receiveCount ? { deliveryCount: String(record.receiveCount) } : {}),
    };
    await putOciQueueMessage(through, queueId, {
      content: record.body,
      metadata: { channelId: FAILED_CHANNEL, customProperties },
    });
    written.add(record.id);
  };
}

/** Puts a checked message on the send queue (`MAILROUTE_QUEUE_ID` at `MAILROUTE_QUEUE_ENDPOINT`): HTTP enqueue mode. */
export function sendQueueEnqueuer(env: NodeJS.ProcessEnv = process.env): (body: string) => Promise<string> {
  let client: QueueClient | undefined;
  return async (body) => {
    const { queueId, endpoint } = queueOf(env, 'MAILROUTE_QUEUE', 'enqueue mode needs the send queue');
    client ??= createOciQueueClient(endpoint, ociAuthFromEnv(env));
    return (await putOciQueueMessage(client, queueId, { content: body })).messageId;
  };
}
