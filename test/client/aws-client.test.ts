import type { LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createLambdaInvoker,
  createSqsProducer,
  LAMBDA_SYNC_MAX_BYTES,
  MAX_S3_PAYLOAD_BYTES,
  readS3Reference,
} from '../../client/aws.ts';
import {
  AuthenticationError,
  ConfigurationError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../../core/errors.ts';
import { type LambdaEmulator, startLambdaEmulator } from '../../emulators/lambda/index.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';
import {
  lambdaClient,
  messageOfSize,
  producerMessage,
  SECRET_ACCESS_KEY,
  s3Client,
  sha256,
  sqsClient,
} from './aws-fixtures.ts';

let sqs: SqsEmulator;
let s3: S3Emulator;
let lambda: LambdaEmulator;
let sqsSdk: SQSClient;
let s3Sdk: S3Client;
let lambdaSdk: LambdaClient;
let queue = 0;
/** A fresh queue per test, so each asserts on its own messages only. */
const newQueue = (fifo = false) => sqs.createQueue(`send-${++queue}${fifo ? '.fifo' : ''}`);
const stored = (queueUrl: string) => sqs.messages(queueUrl.split('/').pop()!);
const INVALID = { from: 'not an address', to: [], subject: 'Hi\r\nBcc: x@evil.test', colour: 'red' };

beforeAll(async () => {
  [sqs, s3, lambda] = await Promise.all([startSqsEmulator(), startS3Emulator(), startLambdaEmulator()]);
  sqsSdk = sqsClient(sqs.url);
  s3Sdk = s3Client(s3.url);
  lambdaSdk = lambdaClient(lambda.url);
  s3.createBucket('payloads');
});
afterAll(async () => {
  for (const client of [sqsSdk, s3Sdk, lambdaSdk]) client.destroy();
  await Promise.all([sqs.close(), s3.close(), lambda.close()]);
});
beforeEach(() => {
  sqs.faults.clear();
  s3.faults.clear();
  lambda.faults.clear();
});

describe('createSqsProducer: standard queue', () => {
  it('enqueues the message JSON as the producer wrote it, not the normalized form', async () => {
    const queueUrl = newQueue();
    const message = producerMessage();
    const result = await createSqsProducer({ queueUrl, client: sqsSdk }).enqueue(message);
    const [only, ...rest] = stored(queueUrl);
    expect(rest).toEqual([]);
    expect(only!.Body).toBe(JSON.stringify(message));
    expect(JSON.parse(only!.Body)).toEqual(message); // `to` is still a string, `from` keeps its case
    expect(result).toEqual({ messageId: only!.MessageId });
    expect(only!.MessageGroupId).toBeUndefined();
    expect(only!.MessageDeduplicationId).toBeUndefined();
  });

  it('refuses an invalid message with every field path, and enqueues nothing', async () => {
    const queueUrl = newQueue();
    const producer = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'payloads', client: s3Sdk } });
    const error = await producer.enqueue(INVALID as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidMessageError);
    const paths = (error as InvalidMessageError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['from', 'to', 'subject', 'text']));
    expect((error as InvalidMessageError).issues.some((i) => /"colour"/.test(i.message))).toBe(true);
    expect(stored(queueUrl)).toEqual([]);
    expect(s3.keys('payloads')).toEqual([]);
  });

  it('escapes U+FFFF, which SQS refuses in a body, so the JSON still parses to the same message', async () => {
    const queueUrl = newQueue();
    const message = producerMessage({ text: 'odd \uffff char' });
    await createSqsProducer({ queueUrl, client: sqsSdk }).enqueue(message);
    expect(stored(queueUrl)[0]!.Body).toContain('odd \\uffff char');
    expect(JSON.parse(stored(queueUrl)[0]!.Body)).toEqual(message);
  });

  it('sends a group id on a standard queue only when one is asked for (fair queues); delaySeconds passes', async () => {
    const queueUrl = newQueue();
    const producer = createSqsProducer({ queueUrl, client: sqsSdk });
    await producer.enqueue(producerMessage(), { groupId: 'tenant-acme', delaySeconds: 5 });
    expect(stored(queueUrl)[0]!.MessageGroupId).toBe('tenant-acme');
    await expect(producer.enqueue(producerMessage(), { deduplicationId: 'x' })).rejects.toThrow(
      /enqueue.deduplicationId: only FIFO queues deduplicate/,
    );
  });

  it('fails loudly on a misspelt option', () => {
    expect(() => createSqsProducer({ queueUrl: newQueue(), client: sqsSdk, maxMessageByte: 1 } as never)).toThrow(
      /createSqsProducer.maxMessageByte is not an option/,
    );
    expect(() => createSqsProducer({ queueUrl: newQueue(), maxMessageBytes: 2_000_000 })).toThrow(
      /maxMessageBytes must be a whole number from 1024 to 1048576/,
    );
  });

  it('builds its own client from region and endpoint when none is given', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAEMULATOR');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET_ACCESS_KEY);
    try {
      const queueUrl = newQueue();
      const result = await createSqsProducer({ queueUrl, endpoint: sqs.url, region: 'us-east-1' }).enqueue(
        producerMessage(),
      );
      expect(stored(queueUrl).map((m) => m.MessageId)).toEqual([result.messageId]);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('createSqsProducer: FIFO queue', () => {
  it('derives the deduplication id from the idempotency key: a second enqueue of the key is dropped', async () => {
    const queueUrl = newQueue(true);
    const producer = createSqsProducer({ queueUrl, client: sqsSdk });
    const first = await producer.enqueue(producerMessage({ idempotencyKey: 'invoice-42' }));
    // A retry that changed the text is still the same send: the key decides, not the content.
    const retry = await producer.enqueue(producerMessage({ idempotencyKey: 'invoice-42', text: 'Edited.' }));
    expect(first.deduplicationId).toBe(`key:${sha256('invoice-42')}`);
    expect(retry.deduplicationId).toBe(first.deduplicationId);
    expect(retry.messageId).toBe(first.messageId);
    expect(first.sequenceNumber).toMatch(/^\d{20}$/);
    expect(stored(queueUrl)).toHaveLength(1);
    expect(stored(queueUrl)[0]).toMatchObject({
      MessageDeduplicationId: first.deduplicationId,
      MessageGroupId: 'billing@example.com', // the sender address, lower-cased
      Body: JSON.stringify(producerMessage({ idempotencyKey: 'invoice-42' })),
    });
  });

  it('without a key, deduplicates by payload: the same JSON twice is one message, other JSON another', async () => {
    const queueUrl = newQueue(true);
    const producer = createSqsProducer({ queueUrl, client: sqsSdk });
    const a = await producer.enqueue(producerMessage());
    await producer.enqueue(producerMessage());
    await producer.enqueue(producerMessage({ text: 'Another.' }));
    expect(a.deduplicationId).toBe(`body:${sha256(JSON.stringify(producerMessage()))}`);
    expect(stored(queueUrl).map((m) => JSON.parse(m.Body).text)).toEqual(['Invoice attached.', 'Another.']);
  });

  it('group id: the enqueue option, else the groupId callback, else the sender; long ids are hashed to fit', async () => {
    const queueUrl = newQueue(true);
    const producer = createSqsProducer({
      queueUrl,
      client: sqsSdk,
      groupId: (m) => (m.metadata.tenant === 'acme' ? `tenant-${m.metadata.tenant}` : undefined) as string,
    });
    await producer.enqueue(producerMessage({ text: '1' }));
    await producer.enqueue(producerMessage({ text: '2' }), { groupId: 'urgent', deduplicationId: 'my-own-id' });
    await producer.enqueue(producerMessage({ text: '3' }), { groupId: 'g'.repeat(200) });
    const fallback = createSqsProducer({ queueUrl, client: sqsSdk });
    await fallback.enqueue(producerMessage({ text: '4', from: 'Ops <OPS@example.org>' }));
    expect(stored(queueUrl).map((m) => m.MessageGroupId)).toEqual([
      'tenant-acme',
      'urgent',
      `sha256:${sha256('g'.repeat(200))}`,
      'ops@example.org',
    ]);
    expect(stored(queueUrl)[1]!.MessageDeduplicationId).toBe('my-own-id');
    await expect(producer.enqueue(producerMessage({ metadata: {} }))).rejects.toThrow(
      /createSqsProducer.groupId: returned undefined/,
    );
  });

  it('refuses a per-message delay, which SQS does not allow on FIFO queues', async () => {
    const queueUrl = newQueue(true);
    const error = await createSqsProducer({ queueUrl, client: sqsSdk })
      .enqueue(producerMessage(), { delaySeconds: 10 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(stored(queueUrl)).toEqual([]);
  });
});

describe('createSqsProducer: size limit and S3 offload', () => {
  it('refuses a payload over the limit, naming the limit, the size and the queue; nothing is enqueued', async () => {
    const queueUrl = newQueue();
    const message = producerMessage({ text: 'x'.repeat(300_000) });
    const bytes = Buffer.byteLength(JSON.stringify(message));
    const error = await createSqsProducer({ queueUrl, client: sqsSdk })
      .enqueue(message)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ limit: 262_144, actual: bytes, retryable: false });
    expect((error as Error).message).toBe(
      `the message JSON for SQS queue ${queueUrl} is ${bytes} bytes, over the limit of 262144 bytes of sqs`,
    );
    expect(stored(queueUrl)).toEqual([]);
  });

  it('counts UTF-8 bytes, and a payload of exactly the limit is accepted', async () => {
    const queueUrl = newQueue();
    const producer = createSqsProducer({ queueUrl, client: sqsSdk, maxMessageBytes: 2048 });
    await producer.enqueue(messageOfSize(2048));
    await expect(producer.enqueue(messageOfSize(2049))).rejects.toMatchObject({ limit: 2048, actual: 2049 });
    const accents = producerMessage({ text: 'é'.repeat(1000) }); // under 2048 characters, over 2048 bytes
    expect(JSON.stringify(accents).length).toBeLessThan(2048);
    await expect(producer.enqueue(accents)).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(stored(queueUrl)).toHaveLength(1);
  });

  it("reports the queue's own, lower limit when SQS refuses the size", async () => {
    const small = await startSqsEmulator({ maxMessageBytes: 1024 });
    const client = sqsClient(small.url);
    try {
      const message = messageOfSize(1500);
      const error = await createSqsProducer({ queueUrl: small.createQueue('small'), client })
        .enqueue(message)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MessageTooLargeError);
      expect(error).toMatchObject({ limit: 1024, actual: 1500 });
    } finally {
      client.destroy();
      await small.close();
    }
  });

  it('offloads a payload over the limit to S3 and enqueues the reference (FIFO ids from the message)', async () => {
    const queueUrl = newQueue(true);
    const producer = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'payloads', client: s3Sdk } });
    const message = producerMessage({ text: 'x'.repeat(300_000), idempotencyKey: 'big-1' });
    const body = JSON.stringify(message);
    const result = await producer.enqueue(message);
    const key = `mailroute/${sha256(body)}.json`;
    expect(result.offloaded).toEqual({ bucket: 'payloads', key });
    expect(result.deduplicationId).toBe(`key:${sha256('big-1')}`);
    const object = s3.object('payloads', key)!;
    expect(object.body.toString('utf8')).toBe(body);
    expect(object.contentType).toBe('application/json');
    expect(object.checksums.crc32).toBeTruthy(); // the SDK sent its CRC32 and the emulator checked it
    const [queued] = stored(queueUrl);
    expect(queued!.Body).toBe(`{"mailrouteS3Ref":{"bucket":"payloads","key":"${key}"}}`);
    expect(queued!.MessageGroupId).toBe('billing@example.com');
    expect(readS3Reference(JSON.parse(queued!.Body))).toEqual({ bucket: 'payloads', key });
    // What a queue handler does: fetch the object (the SDK validates the CRC32 the emulator returns) and parse it.
    const got = await s3Sdk.send(new GetObjectCommand({ Bucket: 'payloads', Key: key }));
    expect(JSON.parse(await got.Body!.transformToString())).toEqual(message);
  });

  it('keeps a payload under the limit on the queue even with S3 configured', async () => {
    const queueUrl = newQueue();
    const producer = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'payloads', client: s3Sdk } });
    const result = await producer.enqueue(producerMessage({ subject: 'small one' }));
    expect(result.offloaded).toBeUndefined();
    expect(JSON.parse(stored(queueUrl)[0]!.Body).subject).toBe('small one');
  });

  it('writes with ExpectedBucketOwner: a bucket of another account is refused (403), nothing enqueued', async () => {
    const queueUrl = newQueue();
    const big = producerMessage({ text: 'z'.repeat(300_000) });
    const owner = s3.accountId;
    const ours = createSqsProducer({
      queueUrl,
      client: sqsSdk,
      s3: { bucket: 'payloads', expectedBucketOwner: owner, client: s3Sdk },
    });
    const { offloaded } = await ours.enqueue(big);
    expect(s3.requests.findLast((r) => r.key === offloaded!.key)).toMatchObject({
      method: 'PUT',
      status: 200,
      expectedBucketOwner: owner,
    });
    stored(queueUrl).splice(0);
    s3.createBucket('someone-elses', { owner: '444455556666' });
    const theirs = createSqsProducer({
      queueUrl,
      client: sqsSdk,
      s3: { bucket: 'someone-elses', expectedBucketOwner: owner, client: s3Sdk },
    });
    const error = await theirs.enqueue(big).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^S3 PutObject on s3://someone-elses/mailroute/[0-9a-f]{64}\\.json \\(expected owner ${owner}\\) was refused \\(AccessDenied\\)`,
      ),
    );
    expect(s3.keys('someone-elses')).toEqual([]);
    expect(stored(queueUrl)).toEqual([]);
    expect(() => createSqsProducer({ queueUrl, s3: { bucket: 'payloads', expectedBucketOwner: 'acme' } })).toThrow(
      /createSqsProducer.s3.expectedBucketOwner must be an AWS account id \(12 digits\)/,
    );
  });

  it('refuses to offload a payload larger than the queue handler reads (MAX_S3_PAYLOAD_BYTES): nothing stored', async () => {
    const queueUrl = newQueue();
    const producer = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'payloads', client: s3Sdk } });
    const before = s3.keys('payloads');
    // Two bytes a character: over the bound in bytes, well within what a message may hold in characters.
    const huge = producerMessage({ text: '\u00e9'.repeat(Math.ceil(MAX_S3_PAYLOAD_BYTES / 2) + 1) });
    const error = await producer.enqueue(huge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ limit: MAX_S3_PAYLOAD_BYTES, provider: 's3' });
    expect((error as MessageTooLargeError).actual).toBeGreaterThan(MAX_S3_PAYLOAD_BYTES);
    expect(s3.keys('payloads')).toEqual(before);
    expect(stored(queueUrl)).toEqual([]);
  });

  it('translates S3 failures, and enqueues nothing when the payload could not be stored', async () => {
    const queueUrl = newQueue();
    const big = producerMessage({ text: 'y'.repeat(300_000) });
    const missing = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'no-such-bucket', client: s3Sdk } });
    const error = await missing.enqueue(big).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues[0]!.path).toBe('s3.bucket');
    s3.faults.add({ status: 503 });
    const slow = createSqsProducer({ queueUrl, client: sqsSdk, s3: { bucket: 'payloads', client: s3Sdk } });
    await expect(slow.enqueue(big)).rejects.toBeInstanceOf(ThrottledError);
    expect(stored(queueUrl)).toEqual([]);
  });
});

describe('createSqsProducer: SQS errors', () => {
  const failure = async (queueUrl: string) =>
    (await createSqsProducer({ queueUrl, client: sqsSdk })
      .enqueue(producerMessage())
      .catch((e: unknown) => e)) as Error & { toJSON(): unknown };

  it('maps a 500 to ProviderUnavailableError and a 400 throttle to ThrottledError, with the queue URL and no secret', async () => {
    const queueUrl = newQueue();
    sqs.faults.add({ status: 500 });
    const down = await failure(queueUrl);
    expect(down).toBeInstanceOf(ProviderUnavailableError);
    expect(down).toMatchObject({ retryable: true, provider: 'sqs' });
    expect(down.message).toContain(queueUrl);
    sqs.faults.add({ status: 400, errorCode: 'RequestThrottled', message: 'Rate exceeded' });
    const throttled = await failure(queueUrl);
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled.message).toBe(`SQS SendMessage on ${queueUrl} was throttled (RequestThrottled): Rate exceeded`);
    for (const e of [down, throttled]) expect(JSON.stringify(e.toJSON())).not.toContain(SECRET_ACCESS_KEY);
    expect(stored(queueUrl)).toEqual([]);
  });

  it('maps a missing queue to ConfigurationError naming queueUrl, and refused credentials to AuthenticationError', async () => {
    const missing = await failure(sqs.queueUrl('never-created'));
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect((missing as ConfigurationError).issues[0]!.path).toBe('queueUrl');
    sqs.faults.add({ status: 403, errorCode: 'AccessDenied', message: 'not authorized to perform sqs:SendMessage' });
    expect(await failure(newQueue())).toBeInstanceOf(AuthenticationError);
  });

  it('maps a refused connection to ProviderUnavailableError', async () => {
    const closed = await startSqsEmulator();
    const queueUrl = closed.createQueue('gone');
    const client = sqsClient(closed.url);
    await closed.close();
    const error = await createSqsProducer({ queueUrl, client })
      .enqueue(producerMessage())
      .catch((e: unknown) => e);
    client.destroy();
    expect(error).toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('createLambdaInvoker', () => {
  it('invokes the function with the message JSON as the event and returns its JSON answer', async () => {
    lambda.register('send-now', (event) => ({ status: 'sent', subject: (event as { subject: string }).subject }));
    const invoker = createLambdaInvoker({ functionName: 'send-now', client: lambdaSdk });
    const message = producerMessage();
    await expect(invoker.invoke(message)).resolves.toEqual({ status: 'sent', subject: 'Your invoice' });
    expect(lambda.invocations.at(-1)).toEqual({
      functionName: 'send-now',
      invocationType: 'RequestResponse',
      event: message,
    });
  });

  it('validates first and refuses a payload over 6 MB before calling', async () => {
    const calls = lambda.invocations.length;
    const invoker = createLambdaInvoker({ functionName: 'send-now', client: lambdaSdk });
    await expect(invoker.invoke(INVALID as never)).rejects.toBeInstanceOf(InvalidMessageError);
    const huge = producerMessage({ text: 'z'.repeat(LAMBDA_SYNC_MAX_BYTES) });
    const error = await invoker.invoke(huge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ limit: 6_291_456, actual: Buffer.byteLength(JSON.stringify(huge)) });
    expect(lambda.invocations.length).toBe(calls);
  });

  it("turns a function error (X-Amz-Function-Error) into ProviderUnavailableError with the function's message", async () => {
    lambda.register('broken', () => {
      throw new RangeError('route "eu" has no provider');
    });
    const error = await createLambdaInvoker({ functionName: 'broken', client: lambdaSdk })
      .invoke(producerMessage())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({
      message: 'Lambda function broken failed (RangeError): route "eu" has no provider',
      providerCode: 'RangeError',
    });
  });

  it('maps a missing function, throttling and a service error', async () => {
    const invoke = (functionName: string) =>
      createLambdaInvoker({ functionName, client: lambdaSdk })
        .invoke(producerMessage())
        .catch((e: unknown) => e);
    const missing = await invoke('nope');
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect((missing as ConfigurationError).issues[0]!.path).toBe('functionName');
    lambda.faults.add({ status: 429, retryAfter: 3 });
    expect(await invoke('send-now')).toMatchObject({ code: 'THROTTLED', retryAfterMs: 3000 });
    lambda.faults.add({ status: 500 });
    expect(await invoke('send-now')).toBeInstanceOf(ProviderUnavailableError);
  });
});
