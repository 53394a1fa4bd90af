import { SendMessageCommand, type SendMessageCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import type { MessageInput } from '../core/message/message.ts';
import { translateAwsError } from './aws-errors.ts';
import {
  checkOptions,
  displayUrl,
  isBoolean,
  isFunction,
  isInteger,
  isObject,
  isPrefix,
  isString,
  isUrl,
  regionIn,
} from './options.ts';
import { checkPayloadSize, type Payload, preparePayload } from './payload.ts';
import type { S3OffloadOptions } from './s3-offload.ts';
import { isAwsAccountId, type S3PayloadReference, s3ReferenceBody } from './s3-reference.ts';
import { type EnqueueOptions, type GroupIdOf, sqsSendFields } from './sqs-send-fields.ts';

export type { EnqueueOptions, GroupIdOf };

/** SQS's default maximum message size; a queue's `MaximumMessageSize` can be raised to 1 MiB (1,048,576). */
export const SQS_DEFAULT_MAX_BYTES = 262_144;
export const SQS_MAX_BYTES = 1_048_576;

export interface SqsProducerOptions {
  queueUrl: string;
  /** An SDK client to use (tests, custom retries); else one is made from `region` and `endpoint`. */
  client?: SQSClient;
  /** Default: the region in the queue URL, else the SDK's default chain. */
  region?: string;
  endpoint?: string;
  /** Default: the queue URL ends with `.fifo`. */
  fifo?: boolean;
  /** The queue's `MaximumMessageSize` (default 262,144; at most 1,048,576): raise both together. */
  maxMessageBytes?: number;
  /** Store payloads over `maxMessageBytes` in S3 and enqueue a reference; without it they are refused. */
  s3?: S3OffloadOptions;
  /**
   * The message group of a message, from its validated (normalized) form; default on FIFO queues: the sender
   * address. When given, it is also sent on standard queues, where SQS uses it for fair queueing.
   */
  groupId?: GroupIdOf;
}

export interface EnqueueResult {
  messageId: string;
  /** FIFO: the order SQS gave the message in its group. */
  sequenceNumber?: string;
  /** FIFO: the deduplication id sent. */
  deduplicationId?: string;
  /** Set when the payload went to S3 and the queue got a reference. */
  offloaded?: S3PayloadReference;
}

export interface SqsProducer {
  enqueue(message: MessageInput, options?: EnqueueOptions): Promise<EnqueueResult>;
}

/**
 * A producer for the send queue: validates the message (nothing is enqueued when it is invalid), sends its JSON,
 * and on FIFO queues sets the deduplication and group ids. See client/README.md.
 *
 * @example
 * const producer = createSqsProducer({ queueUrl: process.env.MAILROUTE_QUEUE_URL! });
 * await producer.enqueue({ from: 'app@example.com', to: 'ann@example.net', subject: 'Hi', text: 'Hello', idempotencyKey: 'welcome-42' });
 */
export function createSqsProducer(options: SqsProducerOptions): SqsProducer {
  checkOptions(
    options,
    'createSqsProducer',
    {
      queueUrl: isUrl,
      client: isObject,
      region: isString,
      endpoint: isUrl,
      fifo: isBoolean,
      maxMessageBytes: isInteger(1024, SQS_MAX_BYTES),
      s3: isObject,
      groupId: isFunction,
    },
    ['queueUrl'],
  );
  if (options.s3) {
    const s3Checks = { bucket: isString, prefix: isPrefix, expectedBucketOwner: isAwsAccountId, client: isObject };
    checkOptions(options.s3, 'createSqsProducer.s3', s3Checks, ['bucket']);
  }
  const { queueUrl } = options;
  const region = options.region ?? regionIn(queueUrl);
  const fifo = options.fifo ?? queueUrl.endsWith('.fifo');
  const limit = options.maxMessageBytes ?? SQS_DEFAULT_MAX_BYTES;
  const where = `SQS queue ${displayUrl(queueUrl)}`;
  const client =
    options.client ??
    new SQSClient({ ...(region ? { region } : {}), ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  let store: Promise<{ put(payload: Payload): Promise<S3PayloadReference> }> | undefined;
  const offload = (s3: S3OffloadOptions, payload: Payload) => {
    store ??= import('./s3-offload.ts').then((m) => m.createS3PayloadStore(s3, region));
    return store.then((s) => s.put(payload));
  };

  return {
    async enqueue(message, enqueueOptions = {}) {
      const payload = preparePayload(message);
      const fields = sqsSendFields(payload, enqueueOptions, fifo, options.groupId);
      let body = payload.body;
      let offloaded: S3PayloadReference | undefined;
      if (payload.bytes > limit && options.s3) {
        offloaded = await offload(options.s3, payload);
        body = s3ReferenceBody(offloaded);
      } else checkPayloadSize(payload, limit, where, { provider: 'sqs' });
      let sent: SendMessageCommandOutput;
      try {
        sent = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, ...fields }));
      } catch (error) {
        const target = { service: 'SQS', operation: 'SendMessage', setting: 'queueUrl' } as const;
        throw translateAwsError(error, { ...target, resource: displayUrl(queueUrl), bytes: Buffer.byteLength(body) });
      }
      return {
        messageId: sent.MessageId ?? '',
        ...(sent.SequenceNumber ? { sequenceNumber: sent.SequenceNumber } : {}),
        ...(fields.MessageDeduplicationId ? { deduplicationId: fields.MessageDeduplicationId } : {}),
        ...(offloaded ? { offloaded } : {}),
      };
    },
  };
}
