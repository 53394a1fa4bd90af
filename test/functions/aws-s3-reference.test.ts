import { createServer } from 'node:net';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSqsProducer, MAX_S3_PAYLOAD_BYTES } from '../../client/aws.ts';
import { LARGEST_MESSAGE } from '../../client/s3-reference.ts';
import type { MessageInput } from '../../core/message/message.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { s3Client, sqsClient } from '../client/aws-fixtures.ts';
import {
  type AwsWorld,
  captureOutput,
  copies,
  lambdaContext,
  message,
  routingConfig,
  SMTP_PASSWORD,
  SMTP_USER,
  sqsEvent,
  sqsRecord,
  startAwsWorld,
  THROTTLE_FAULT,
} from './aws-lambda.ts';

// The S3 offload path end to end: references written by the real producer, read by the real queue handler
// (functions/aws/queue.ts, a cold start per test) from the S3 emulator through the SDK the function builds itself.

type QueueHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const OWNER = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const DLQ = 'mailroute-dead-letters';
let world: AwsWorld;
let s3: S3Emulator;
let output: ReturnType<typeof captureOutput>;
let produced = 0;

async function coldQueueHandler(): Promise<QueueHandler> {
  vi.resetModules();
  return (await import('../../functions/aws/queue.ts')).handler as unknown as QueueHandler;
}

/** What a producer with S3 offload enqueues for this message: the payload in `bucket`, the reference's record. */
async function offloaded(subject: string, bucket = 'payloads', expectedBucketOwner = OWNER): Promise<SQSRecord> {
  const queue = `refs-${++produced}`;
  const client = s3Client(s3.url);
  const sqs = sqsClient(world.sqs.url);
  const producer = createSqsProducer({
    queueUrl: world.sqs.createQueue(queue),
    client: sqs,
    maxMessageBytes: 1024,
    s3: { bucket, expectedBucketOwner, client },
  });
  const big = message(subject, { text: `${subject}: ${'x'.repeat(2_000)}` }) as unknown as MessageInput;
  const result = await producer.enqueue(big);
  client.destroy();
  sqs.destroy();
  expect(result.offloaded?.bucket).toBe(bucket);
  const [queued] = world.sqs.messages(queue);
  return sqsRecord(`ref-${produced}-${subject.replaceAll(' ', '-')}`, queued!.Body);
}

const reference = (id: string, bucket: string, key: string) =>
  sqsRecord(id, JSON.stringify({ mailrouteS3Ref: { bucket, key } }));
const keyOf = (record: SQSRecord) => JSON.parse(record.body).mailrouteS3Ref.key as string;

/** The dead-letter queue's messages, by source message id. */
function deadLetters() {
  return world.sqs
    .messages(DLQ)
    .map((m) => ({
      body: m.Body,
      reason: m.MessageAttributes?.reason?.StringValue,
      errorCode: m.MessageAttributes?.errorCode?.StringValue,
      sourceMessageId: m.MessageAttributes?.sourceMessageId?.StringValue,
    }))
    .sort((a, b) => String(a.sourceMessageId).localeCompare(String(b.sourceMessageId)));
}
const recordLine = (id: string) => output.lines().findLast((l) => l.message === 'record' && l.queueMessageId === id);
const requestsFor = (key: string) => s3.requests.filter((r) => r.key === key);

beforeAll(async () => {
  [world, s3] = await Promise.all([startAwsWorld(), startS3Emulator({ accountId: OWNER })]);
  s3.createBucket('payloads');
  s3.createBucket('elsewhere');
  vi.stubEnv('MR_SMTP_USER', SMTP_USER);
  vi.stubEnv('MR_SMTP_PASS', SMTP_PASSWORD);
  const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(routingConfig(world.primary, world.busy, credentials)));
  vi.stubEnv('MAILROUTE_DLQ_URL', world.sqs.createQueue(DLQ));
});
beforeEach(async () => {
  await world.freshTable();
  // What serverless.yml gives the queue function when the stack has a payload bucket.
  vi.stubEnv('AWS_ENDPOINT_URL_S3', s3.url);
  vi.stubEnv('MAILROUTE_PAYLOAD_BUCKET', 'payloads');
  vi.stubEnv('MAILROUTE_PAYLOAD_BUCKET_OWNER', OWNER);
  output = captureOutput();
});
afterEach(() => {
  output.restore();
  s3.faults.clear();
  s3.requests.splice(0);
  world.sqs.messages(DLQ).splice(0);
  world.busy.fault = THROTTLE_FAULT;
});
afterAll(async () => {
  await s3.close();
  await world.stop();
});

describe('SQS queue handler: bodies that are S3 references', () => {
  it('reads a good reference from the payload bucket (ExpectedBucketOwner on the write and both reads) and sends it once', async () => {
    const record = await offloaded('offloaded good');
    const key = keyOf(record);
    expect(key).toMatch(/^mailroute\/[0-9a-f]{64}\.json$/);
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(record), lambdaContext())).toEqual({ batchItemFailures: [] });
    // With the S3 reader unplugged from the handler, the reference itself would be sent: an invalid message.
    expect(copies(world.primary, 'offloaded good')).toBe(1);
    expect(deadLetters()).toEqual([]);
    expect(requestsFor(key).map((r) => [r.method, r.status, r.expectedBucketOwner])).toEqual([
      ['PUT', 200, OWNER],
      ['HEAD', 200, OWNER],
      ['GET', 200, OWNER],
    ]);
    // Delivered again (a lost acknowledgement): read again, recognized, not sent twice.
    expect(await handler(sqsEvent(record), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(copies(world.primary, 'offloaded good')).toBe(1);
    expect(recordLine(record.messageId)).toMatchObject({ status: 'duplicate' });
  });

  it('dead-letters a reference to another bucket without asking S3, naming the bucket it reads', async () => {
    const elsewhere = await offloaded('other bucket', 'elsewhere');
    s3.requests.splice(0);
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(elsewhere), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      {
        body: elsewhere.body,
        reason: `PAYLOAD_REFUSED: s3://elsewhere/${keyOf(elsewhere)} is not in the payload bucket: only s3://payloads/mailroute/* is read`,
        errorCode: 'PAYLOAD_REFUSED',
        sourceMessageId: elsewhere.messageId,
      },
    ]);
    expect(s3.requests).toEqual([]);
    expect(copies(world.primary, 'other bucket')).toBe(0);
  });

  it('dead-letters a reference outside the payload prefix (or stepping out of it) without asking S3', async () => {
    const good = await offloaded('outside prefix');
    s3.putObject('payloads', 'private/config.json', s3.object('payloads', keyOf(good))!.body);
    const outside = reference('ref-outside', 'payloads', 'private/config.json');
    const dotted = reference('ref-dotted', 'payloads', 'mailroute/../private/config.json');
    // A key the reason shows escaped: SQS refuses a NUL in an attribute, and the dead letter would fail.
    const nul = reference('ref-nul', 'payloads', 'private/\u0000.json');
    s3.requests.splice(0);
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(outside, dotted, nul), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters().map((d) => [d.sourceMessageId, d.errorCode, d.reason])).toEqual([
      [
        'ref-dotted',
        'PAYLOAD_REFUSED',
        'PAYLOAD_REFUSED: s3://payloads/mailroute/../private/config.json has a "." or ".." segment: only s3://payloads/mailroute/* is read, literally',
      ],
      [
        'ref-nul',
        'PAYLOAD_REFUSED',
        'PAYLOAD_REFUSED: s3://payloads/private/\\u0000.json is not under the payload prefix: only s3://payloads/mailroute/* is read',
      ],
      [
        'ref-outside',
        'PAYLOAD_REFUSED',
        'PAYLOAD_REFUSED: s3://payloads/private/config.json is not under the payload prefix: only s3://payloads/mailroute/* is read',
      ],
    ]);
    expect(s3.requests).toEqual([]);
    expect(copies(world.primary, 'outside prefix')).toBe(0);
  });

  it('dead-letters a reference to a missing object at once (S3 is strongly consistent: it will not appear)', async () => {
    const missing = reference('ref-missing', 'payloads', 'mailroute/gone.json');
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(missing), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      {
        body: missing.body,
        reason: 'PAYLOAD_MISSING: s3://payloads/mailroute/gone.json does not exist (NotFound)',
        errorCode: 'PAYLOAD_MISSING',
        sourceMessageId: 'ref-missing',
      },
    ]);
  });

  it('refuses an object over the largest message any provider takes from its length alone: not a byte downloaded', async () => {
    const key = 'mailroute/huge.json';
    s3.putObject('payloads', key, Buffer.alloc(MAX_S3_PAYLOAD_BYTES + 1, 0x20));
    try {
      const huge = reference('ref-huge', 'payloads', key);
      const handler = await coldQueueHandler();

      expect(await handler(sqsEvent(huge), lambdaContext())).toEqual({ batchItemFailures: [] });
      const [letter] = deadLetters();
      expect(letter).toMatchObject({ errorCode: 'PAYLOAD_REFUSED', sourceMessageId: 'ref-huge' });
      const size = (n: number) => n.toLocaleString('en-US');
      expect(letter!.reason).toBe(
        `PAYLOAD_REFUSED: s3://payloads/${key} is ${size(MAX_S3_PAYLOAD_BYTES + 1)} bytes, over ` +
          `${size(MAX_S3_PAYLOAD_BYTES)} bytes (the largest message any provider takes is ` +
          `${size(LARGEST_MESSAGE.bytes)} bytes encoded, ${LARGEST_MESSAGE.provider} ${LARGEST_MESSAGE.mode}; ` +
          'its message JSON may be a third larger): not read',
      );
      expect(requestsFor(key).map((r) => [r.method, r.bytesServed])).toEqual([['HEAD', 0]]);
    } finally {
      await fetch(`${s3.url}/payloads/${key}`, { method: 'DELETE' });
    }
  });

  it('refuses the payload bucket when another account owns it: S3 answers 403 to ExpectedBucketOwner', async () => {
    // A bucket of the expected name, created by someone else (deleted and re-created, or never ours).
    s3.createBucket('squatted', { owner: OTHER_ACCOUNT });
    const record = await offloaded('squatted bucket', 'squatted', OTHER_ACCOUNT);
    vi.stubEnv('MAILROUTE_PAYLOAD_BUCKET', 'squatted');
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(record), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      {
        body: record.body,
        reason: expect.stringMatching(
          /^PAYLOAD_REFUSED: S3 refused to read s3:\/\/squatted\/mailroute\/[0-9a-f]{64}\.json \(HTTP 403\): the bucket is not owned by 111122223333/,
        ),
        errorCode: 'PAYLOAD_REFUSED',
        sourceMessageId: record.messageId,
      },
    ]);
    expect(requestsFor(keyOf(record)).filter((r) => r.method !== 'PUT')).toEqual([
      {
        method: 'HEAD',
        bucket: 'squatted',
        key: keyOf(record),
        status: 403,
        bytesServed: 0,
        expectedBucketOwner: OWNER,
      },
    ]);
    expect(copies(world.primary, 'squatted bucket')).toBe(0);
  });

  it('gives the record back to the queue when S3 is unreachable (a closed port), and dead-letters nothing', async () => {
    const record = await offloaded('s3 down');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', await closedPortUrl());
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(record), lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: record.messageId }],
    });
    expect(deadLetters()).toEqual([]);
    expect(recordLine(record.messageId)).toMatchObject({
      status: 'retry',
      errorCode: 'PROVIDER_UNAVAILABLE',
      reason: expect.stringMatching(/^PROVIDER_UNAVAILABLE: S3 did not return s3:\/\/payloads\/mailroute\//),
    });
  });

  it('gives up a read S3 does not answer at the send deadline: the request is cancelled, the record retried', async () => {
    const record = await offloaded('s3 hangs');
    const key = keyOf(record);
    s3.faults.add({ hang: true, pathIncludes: key });
    const handler = await coldQueueHandler();
    // A first, empty batch builds the mailer, so that the time below is all the read's, however slow the machine.
    await handler(sqsEvent(), lambdaContext());

    // 2.5 s left, a margin of 1 s: the send deadline is 1.5 s away, and S3 never answers.
    expect(await handler(sqsEvent(record), lambdaContext('mailroute-queue', 2_500))).toEqual({
      batchItemFailures: [{ itemIdentifier: record.messageId }],
    });
    expect(recordLine(record.messageId)).toMatchObject({
      status: 'retry',
      errorCode: 'TRANSIENT',
      reason: `TRANSIENT: S3 did not return s3://payloads/${key} before the deadline`,
    });
    // The emulator logs a hung request when the client closes it: the abort reached the SDK's request.
    await expect
      .poll(() => requestsFor(key).filter((r) => r.method === 'HEAD'))
      .toEqual([expect.objectContaining({ method: 'HEAD', status: 0, expectedBucketOwner: OWNER })]);
    expect(deadLetters()).toEqual([]);
  });

  it('does not start a read when the deadline has already passed: the record goes back untouched', async () => {
    const record = await offloaded('no time');
    s3.requests.splice(0);
    const handler = await coldQueueHandler();

    // Half a second left and a 1 s margin: the send deadline is already behind.
    expect(await handler(sqsEvent(record), lambdaContext('mailroute-queue', 500))).toEqual({
      batchItemFailures: [{ itemIdentifier: record.messageId }],
    });
    expect(recordLine(record.messageId)).toMatchObject({
      status: 'retry',
      reason: expect.stringMatching(
        /^TRANSIENT: no time left to read s3:\/\/payloads\/mailroute\/.* before the deadline$/,
      ),
    });
    expect(s3.requests).toEqual([]);
  });

  it('refuses every reference when the function has no payload bucket (the stack was deployed without one)', async () => {
    const record = await offloaded('no bucket configured');
    s3.requests.splice(0);
    vi.stubEnv('MAILROUTE_PAYLOAD_BUCKET', '');
    const handler = await coldQueueHandler();

    expect(await handler(sqsEvent(record), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      expect.objectContaining({
        errorCode: 'PAYLOAD_REFUSED',
        reason: expect.stringMatching(/was not read: no payload bucket is set \(MAILROUTE_PAYLOAD_BUCKET\)$/),
      }),
    ]);
    expect(s3.requests).toEqual([]);
  });
});

/** A loopback URL nothing listens on: a port the system gave us, then closed. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
