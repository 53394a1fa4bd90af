import { ConfigurationError } from '../../core/errors.ts';
import { deadLetterFields } from '../../core/runtime/dead-letter.ts';
import type { DeadLetterSink } from '../../core/runtime/queue-batch.ts';
import { FAILED_QUEUE_SETTING } from './bindings.ts';
import { queueClient } from './queues.ts';

/**
 * Permanent failures go at once to the failed queue (`MAILROUTE_FAILED_QUEUE`), base64 JSON like every mailroute
 * queue: `{ body, reason, errorCode, sourceMessageId, dequeueCount, failedAt, issues? }` (core/runtime/dead-letter.ts),
 * kept until read (no time to live). Throws when it cannot be written (the message then stays on the send queue):
 * also when the record would pass 64 KiB, so an original near the limit ends in the poison queue whole, never cut.
 * The call's signal is the SDK's `abortSignal`: it cancels the request and the storage retry policy's further tries.
 */
export function failedQueueSink(env: NodeJS.ProcessEnv = process.env): DeadLetterSink {
  return async (record, reason, failure, call = {}) => {
    const queueName = env[FAILED_QUEUE_SETTING];
    if (!queueName)
      throw new ConfigurationError(`${FAILED_QUEUE_SETTING} is not set: nowhere to put a permanent failure`);
    const { receiveCount, issues, ...fields } = deadLetterFields(record, reason, failure);
    const count = receiveCount ? { dequeueCount: receiveCount } : {};
    const failed = { ...fields, ...count, failedAt: new Date().toISOString(), ...(issues ? { issues } : {}) };
    const { sendQueueText } = await import('../../client/azure-queue-text.ts');
    await sendQueueText(await queueClient(queueName, env), JSON.stringify(failed), {
      timeToLiveSeconds: -1,
      ...(call.signal ? { abortSignal: call.signal } : {}),
    });
  };
}
