import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { SqsProducer } from '../../client/sqs-producer.ts';
import { ConfigurationError, isMailrouteError, ProviderUnavailableError } from '../../core/errors.ts';
import type { QueueRecord } from '../../core/runtime/queue-batch.ts';

let client: Promise<SQSClient> | undefined;
/**
 * One client per container: region, credentials and endpoint from the Lambda environment. The SDK is loaded with
 * the first message written to a queue (a dead letter, an enqueued send): most containers never write one.
 */
export const sqs = (): Promise<SQSClient> =>
  (client ??= import('@aws-sdk/client-sqs').then(({ SQSClient }) => new SQSClient({})));

/** An SQS record as the cloud-neutral batch sees it: the message id (idempotency key), body, FIFO group. */
export function toQueueRecord({ messageId: id, body, attributes }: SQSRecord): QueueRecord {
  const { MessageGroupId: groupId, ApproximateReceiveCount: count } = attributes;
  return { id, body, ...(groupId ? { groupId } : {}), ...(count ? { receiveCount: Number(count) } : {}) };
}

/**
 * HTTP enqueue mode: the checked message onto the send queue through the SQS producer (client/sqs-producer.ts),
 * so it gets the FIFO group and deduplication ids every producer gives (client/README.md). A queue that does
 * not take it is a 503 (`PROVIDER_UNAVAILABLE`); a message too large for it stays a 413.
 */
export function enqueueTo(queueUrl: string | undefined): (body: string) => Promise<string> {
  let producer: SqsProducer | undefined;
  return async (body) => {
    if (!queueUrl) throw new ConfigurationError('MAILROUTE_QUEUE_URL is not set: enqueue mode needs the send queue');
    producer ??= (await import('../../client/sqs-producer.ts')).createSqsProducer({ queueUrl, client: await sqs() });
    try {
      return (await producer.enqueue(JSON.parse(body))).messageId;
    } catch (error) {
      if (isMailrouteError(error) && ['MESSAGE_TOO_LARGE', 'INVALID_MESSAGE'].includes(error.code)) throw error;
      const message = `the send queue did not take the message: ${(error as Error).message}`;
      throw new ProviderUnavailableError(message, { cause: error });
    }
  };
}
