import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { ConfigurationError } from '../../core/errors.ts';
import { deadLetterFields } from '../../core/runtime/dead-letter.ts';
import type { DeadLetterSink } from '../../core/runtime/queue-batch.ts';
import { sqs } from './sqs.ts';

const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value || '-' });
const number = (value: number): MessageAttributeValue => ({ DataType: 'Number', StringValue: String(value) });

/**
 * Dead-letters at once: the ORIGINAL body, with attributes `reason`, `errorCode`, `sourceMessageId` and
 * `receiveCount` (core/runtime/dead-letter.ts); on a FIFO DLQ the record's own group and its message id as the
 * deduplication id. Throws when the queue cannot take it, so the record stays on the send queue. The call's signal
 * is the SDK's `abortSignal`: it cancels the request and the SDK's retries with it.
 */
export function deadLetterTo(queueUrl: string | undefined): DeadLetterSink {
  return async (record, reason, failure, call = {}) => {
    if (!queueUrl) throw new ConfigurationError('MAILROUTE_DLQ_URL is not set: nowhere to put a permanent failure');
    const { body, errorCode, sourceMessageId, receiveCount } = deadLetterFields(record, reason, failure);
    const attributes: Record<string, MessageAttributeValue> = {
      reason: text(reason.slice(0, 1024)),
      errorCode: text(errorCode),
      sourceMessageId: text(sourceMessageId),
    };
    if (receiveCount) attributes.receiveCount = number(receiveCount);
    const fifo = queueUrl.endsWith('.fifo')
      ? { MessageGroupId: record.groupId ?? 'dead-letter', MessageDeduplicationId: record.id }
      : {};
    const message = { QueueUrl: queueUrl, MessageBody: body, MessageAttributes: attributes, ...fifo };
    const [{ SendMessageCommand }, client] = await Promise.all([import('@aws-sdk/client-sqs'), sqs()]);
    await client.send(new SendMessageCommand(message), call.signal ? { abortSignal: call.signal } : {});
  };
}
