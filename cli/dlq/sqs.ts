import type { S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { translateAwsError } from '../../client/aws-errors.ts';
import { displayUrl, regionIn } from '../../client/options.ts';
import { readS3Reference } from '../../client/s3-reference.ts';
import { createSqsProducer, type SqsProducer } from '../../client/sqs-producer.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { payloadPolicyFromEnv, s3PayloadResolver } from '../../functions/aws/s3-payload.ts';
import {
  type AdapterOptions,
  countOf,
  type DeadLetter,
  type DlqAdapter,
  field,
  isoTime,
  messageOf,
} from './adapter.ts';

/** Seconds a receive waits for messages (long polling asks every SQS server, so an empty answer means empty). */
const WAIT_SECONDS = 1;

/**
 * An SQS dead-letter queue: the permanent-failure queue (original body, attributes `reason`, `errorCode`,
 * `sourceMessageId`, `receiveCount`; functions/aws/dead-letter.ts) or the send queue's redrive DLQ (the body
 * only). Replayed through the SQS producer (client/sqs-producer.ts): validated, and on a FIFO send queue in the
 * message group any enqueue gives it, with a deduplication id of the replay's own (`replay:<DLQ message id>`). A
 * body that is an S3 reference (a payload over the queue's limit) is read from S3 and enqueued again the same way:
 * offloaded to the same bucket and key prefix. It is read as the queue handler reads it (functions/aws/s3-payload.ts),
 * with the function's own variables: only `MAILROUTE_PAYLOAD_BUCKET` under `MAILROUTE_PAYLOAD_PREFIX`, owned by
 * `MAILROUTE_PAYLOAD_BUCKET_OWNER` (`ExpectedBucketOwner` on the read and the write), and no object over the largest
 * message any provider takes, refused unread. A reference the function refused (dead-lettered `PAYLOAD_REFUSED`:
 * another bucket, a huge object) is refused again here, and stays in the dead-letter queue with why: the
 * operator's credentials, often broader than the function's, never read or copy what the function would not.
 *
 * Each queue URL is reached at `--endpoint` if given, else at `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` when
 * set, else at the URL's own host (so an emulator's queue URL works as it is); S3 at `AWS_ENDPOINT_URL_S3` /
 * `AWS_ENDPOINT_URL` (path-style) when set.
 */
export function createAdapter(options: AdapterOptions): DlqAdapter {
  const { from, to, env } = options;
  const clients = new Map<string, SQSClient>();
  const clientFor = (queueUrl: string, setting: string) => {
    if (!URL.canParse(queueUrl)) {
      throw new ConfigurationError(`${setting} must be an SQS queue URL, not "${queueUrl}"`, {
        issues: [{ path: setting, message: 'is not a URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)' }],
      });
    }
    // The SDK's own endpoint variables, read here (from the command's environment) rather than by the SDK.
    const endpoint = options.endpoint || env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL || new URL(queueUrl).origin;
    const region = regionIn(queueUrl) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const key = `${endpoint} ${region}`;
    const client = clients.get(key) ?? new SQSClient({ region, endpoint });
    clients.set(key, client);
    return client;
  };
  const dlq = clientFor(from, '--from');
  const sendClient = to ? clientFor(to, '--to') : undefined;
  const producers = new Map<string, SqsProducer>();
  const fifo = !!to && new URL(to).pathname.endsWith('.fifo');
  let s3: Promise<S3Client> | undefined;
  const payloadPolicy = payloadPolicyFromEnv(env);
  let readPayload: ReturnType<typeof s3PayloadResolver> | undefined;
  const target = (operation: string) =>
    ({ service: 'SQS', operation, resource: displayUrl(from), setting: '--from' }) as const;

  /** The producer for a message, or for an S3-offloaded one, one that offloads to the same bucket and prefix. */
  const producerFor = async (offloadTo?: { bucket: string; prefix: string; expectedBucketOwner?: string }) => {
    if (!to || !sendClient) throw new ConfigurationError('replay needs --to (the send queue URL)');
    const key = offloadTo ? `${offloadTo.bucket}/${offloadTo.prefix}` : '';
    let producer = producers.get(key);
    if (!producer) {
      const offload = offloadTo ? { s3: { ...offloadTo, client: await s3Client() } } : {};
      producer = createSqsProducer({ queueUrl: to, client: sendClient, ...offload });
      producers.set(key, producer);
    }
    return producer;
  };

  return {
    source: displayUrl(from),
    ...(to ? { target: displayUrl(to) } : {}),
    maxBatch: 10,
    maxLeaseSeconds: 43_200,
    async receive(max, leaseSeconds) {
      try {
        const { Messages = [] } = await dlq.send(
          new ReceiveMessageCommand({
            QueueUrl: from,
            MaxNumberOfMessages: Math.min(max, 10),
            VisibilityTimeout: leaseSeconds,
            WaitTimeSeconds: WAIT_SECONDS,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
          }),
        );
        return Messages.map((m): DeadLetter => {
          const text = (name: string) => field(m.MessageAttributes?.[name]?.StringValue);
          const reason = text('reason');
          const errorCode = text('errorCode');
          const sourceMessageId = text('sourceMessageId');
          const receiveCount = countOf(text('receiveCount'));
          const firstSeen = isoTime(m.Attributes?.SentTimestamp);
          return {
            id: m.MessageId ?? '',
            body: m.Body ?? '',
            handle: m.ReceiptHandle ?? '',
            ...(reason ? { reason } : {}),
            ...(errorCode ? { errorCode } : {}),
            ...(sourceMessageId ? { sourceMessageId } : {}),
            ...(receiveCount ? { receiveCount } : {}),
            ...(firstSeen ? { firstSeen } : {}),
          };
        });
      } catch (error) {
        throw translateAwsError(error, target('ReceiveMessage'));
      }
    },
    async requeue(letter) {
      const message = messageOf(letter);
      const reference = readS3Reference(message);
      // A FIFO queue drops a deduplication id it saw in the last 5 minutes, answering as if it took the message:
      // the producer's id (from the key or the body) is the original enqueue's, so a replay soon after it would
      // vanish while its dead letter is deleted. The replay's own id still collapses two replays of one letter.
      const enqueue = fifo ? { deduplicationId: `replay:${letter.id}` } : {};
      if (!reference) return (await (await producerFor()).enqueue(message as never, enqueue)).messageId;
      // The payload itself (checked and bounded as the function reads it), enqueued again through a producer that
      // offloads it the same way: the same key, since keys are the payload's hash.
      readPayload ??= s3PayloadResolver(payloadPolicy, await s3Client());
      const text = await readPayload(letter.body);
      const prefix = reference.key.slice(0, reference.key.lastIndexOf('/') + 1);
      const owner = payloadPolicy.expectedBucketOwner;
      const producer = await producerFor({
        bucket: reference.bucket,
        prefix,
        ...(owner ? { expectedBucketOwner: owner } : {}),
      });
      return (await producer.enqueue(messageOf({ ...letter, body: text }) as never, enqueue)).messageId;
    },
    async remove(letter) {
      try {
        await dlq.send(new DeleteMessageCommand({ QueueUrl: from, ReceiptHandle: letter.handle }));
      } catch (error) {
        throw translateAwsError(error, target('DeleteMessage'));
      }
    },
    async release(letter) {
      try {
        await dlq.send(
          new ChangeMessageVisibilityCommand({ QueueUrl: from, ReceiptHandle: letter.handle, VisibilityTimeout: 0 }),
        );
      } catch (error) {
        // Its lease already ran out: it is visible again, which is all a release is for.
        if ((error as { name?: string }).name === 'MessageNotInflight') return;
        throw translateAwsError(error, target('ChangeMessageVisibility'));
      }
    },
    async count() {
      const { Attributes = {} } = await dlq.send(
        new GetQueueAttributesCommand({ QueueUrl: from, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return countOf(Attributes.ApproximateNumberOfMessages) ?? 0;
    },
    async close() {
      for (const client of clients.values()) client.destroy();
      await s3?.then((client) => client.destroy()).catch(() => {});
    },
  };

  /**
   * The S3 client for offloaded payloads, loaded on the first reference only: the send queue's region, and the
   * SDK's endpoint variables (`AWS_ENDPOINT_URL_S3`; path-style then, as emulators and MinIO need).
   */
  function s3Client(): Promise<S3Client> {
    s3 ??= (async () => {
      const { S3Client } = await import('@aws-sdk/client-s3');
      const region = await (sendClient ?? dlq).config.region();
      const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
      return new S3Client({ region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) });
    })();
    return s3;
  }
}
