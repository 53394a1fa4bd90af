import { createHash } from 'node:crypto';
import { type MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { ConfigurationError, ProviderUnavailableError } from '../../core/errors.ts';
import type { DeadLetterSink, QueueRecord } from '../../core/queue-batch.ts';

let client: SQSClient | undefined;
/** One client per container: region, credentials and endpoint from the Lambda environment. */
const sqs = () => {
  client ??= new SQSClient({});
  return client;
};

/** An SQS record as the cloud-neutral batch sees it: the message id (idempotency key), body, FIFO group. */
export function toQueueRecord(record: SQSRecord): QueueRecord {
  const { MessageGroupId: groupId, ApproximateReceiveCount: count } = record.attributes;
  return {
    id: record.messageId,
    body: record.body,
    ...(groupId ? { groupId } : {}),
    ...(count ? { receiveCount: Number(count) } : {}),
  };
}

const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value || '-' });

/**
 * Dead-letters at once: the ORIGINAL body, with attributes `reason`, `errorCode`, `sourceMessageId` and
 * `receiveCount`. Throws when the queue cannot take it, so the record stays on the send queue. The call's signal
 * is the SDK's `abortSignal`: it cancels the request and the SDK's retries with it.
 */
export function deadLetterTo(queueUrl: string | undefined): DeadLetterSink {
  return async (record, reason, error, call = {}) => {
    if (!queueUrl) throw new ConfigurationError('MAILROUTE_DLQ_URL is not set: nowhere to put a permanent failure');
    const errorCode = typeof error?.code === 'string' ? error.code : (/^[A-Z_]+(?=:)/.exec(reason)?.[0] ?? 'UNKNOWN');
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: record.body,
        MessageAttributes: {
          reason: text(reason.slice(0, 1024)),
          errorCode: text(errorCode),
          sourceMessageId: text(record.id),
          ...(record.receiveCount
            ? { receiveCount: { DataType: 'Number', StringValue: String(record.receiveCount) } }
            : {}),
        },
        ...(queueUrl.endsWith('.fifo')
          ? { MessageGroupId: record.groupId ?? 'dead-letter', MessageDeduplicationId: record.id }
          : {}),
      }),
      call.signal ? { abortSignal: call.signal } : {},
    );
  };
}

/**
 * Puts a checked message on the send queue and returns the SQS message id. A FIFO queue gets one group (order
 * of arrival) and a deduplication id from the body, so a caller's retry within five minutes is dropped.
 */
export async function enqueue(queueUrl: string | undefined, body: string): Promise<string> {
  if (!queueUrl) throw new ConfigurationError('MAILROUTE_QUEUE_URL is not set: enqueue mode needs the send queue');
  const fifo = queueUrl.endsWith('.fifo')
    ? { MessageGroupId: 'http', MessageDeduplicationId: createHash('sha256').update(body).digest('hex') }
    : {};
  try {
    const sent = await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, ...fifo }));
    return sent.MessageId ?? '';
  } catch (error) {
    throw new ProviderUnavailableError(`the send queue did not take the message: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
