import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsProducer, MAX_S3_PAYLOAD_BYTES } from '../../client/aws.ts';
import { largestMessage, maxS3PayloadBytes } from '../../client/s3-reference.ts';
import { validateConfig } from '../../core/config/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { processBatch, type QueueRecord } from '../../core/runtime/queue-batch.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';
import {
  PayloadRefusedError,
  payloadPolicyFromEnv,
  type S3PayloadPolicy,
  s3PayloadResolver,
} from '../../functions/aws/s3-payload.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { producerMessage, s3Client, sqsClient } from '../client/aws-fixtures.ts';

const OWNER = '111122223333';
let sqs: SqsEmulator;
let s3: S3Emulator;
let client: S3Client;
let mailer: Mailer;
let outbox: string;
const policy: S3PayloadPolicy = {
  bucket: 'payloads',
  prefix: 'mailroute/',
  expectedBucketOwner: OWNER,
  maxBytes: MAX_S3_PAYLOAD_BYTES,
};
const referenceTo = (bucket: string, key: string) => JSON.stringify({ mailrouteS3Ref: { bucket, key } });

beforeAll(async () => {
  sqs = await startSqsEmulator({ maxMessageBytes: 1024 });
  s3 = await startS3Emulator({ accountId: OWNER });
  client = s3Client(s3.url);
  s3.createBucket('payloads');
  outbox = mkdtempSync(join(tmpdir(), 'mr-s3ref-'));
  mailer = new Mailer(
    validateConfig({ providers: [{ provider: 'local', mode: 'api' }], outboxDir: outbox }),
    createAdapter,
  );
});
afterAll(async () => {
  client.destroy();
  await mailer.close();
  await sqs.close();
  await s3.close();
});

describe('an SQS record that stands for a payload offloaded to S3', () => {
  it('is read back from S3 and sent; a reference to a missing object is dead-lettered with its location', async () => {
    const producer = createSqsProducer({
      queueUrl: sqs.createQueue('send'),
      client: sqsClient(sqs.url),
      maxMessageBytes: 1024,
      s3: { bucket: 'payloads', expectedBucketOwner: OWNER, client },
    });
    const big = producerMessage({ text: 'x'.repeat(5_000) });
    const queued = await producer.enqueue(big);
    expect(queued.offloaded?.bucket).toBe('payloads');
    const [message] = sqs.messages('send');
    const records: QueueRecord[] = [
      { id: 'offloaded', body: message!.Body },
      { id: 'missing', body: referenceTo('payloads', 'mailroute/gone.json') },
    ];
    const deadLetters: { id: string; reason: string; code?: string }[] = [];
    const outcomes = await processBatch(records, {
      mailer,
      resolveBody: s3PayloadResolver(policy, client),
      deadLetter: async (record, reason, failure) => {
        deadLetters.push({ id: record.id, reason, ...(failure ? { code: failure.errorCode } : {}) });
      },
    });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['offloaded', 'sent'],
      ['missing', 'dead-letter'],
    ]);
    expect(deadLetters).toEqual([
      {
        id: 'missing',
        reason: 'PAYLOAD_MISSING: s3://payloads/mailroute/gone.json does not exist (NotFound)',
        code: 'PAYLOAD_MISSING',
      },
    ]);
    expect(readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });

  it('passes a body that is no reference through untouched, a malformed reference included (then INVALID_MESSAGE)', async () => {
    const resolve = s3PayloadResolver(policy, client);
    const bodies = [
      JSON.stringify(producerMessage()),
      '{"mailrouteS3Ref": ',
      JSON.stringify({ mailrouteS3Ref: { bucket: 'payloads', key: 7 } }),
    ];
    for (const body of bodies) expect(await resolve(body)).toBe(body);
  });

  it('cuts off a body longer than its length said, at the bound, and stops downloading', async () => {
    // An S3 whose HeadObject and GetObject say nothing is wrong, and whose body does not end.
    const liar = await startLyingS3(100);
    const liarClient = s3Client(liar.url);
    try {
      const resolve = s3PayloadResolver({ ...policy, maxBytes: 64 * 1024 }, liarClient);
      const error = await resolve(referenceTo('payloads', 'mailroute/grows.json')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PayloadRefusedError);
      expect((error as Error).message).toMatch(
        /^s3:\/\/payloads\/mailroute\/grows\.json \(its length said less\) is [\d,]+ bytes, over 65,536 bytes: not read$/,
      );
      // The client hung up (the body never ends: only the client closing it settles this), having taken what
      // the sockets' buffers hold, not the stream.
      expect(await liar.closedAfterBytes).toBeGreaterThan(64 * 1024);
    } finally {
      liarClient.destroy();
      await liar.close();
    }
  });

  it('refuses an object that is not UTF-8 text', async () => {
    s3.putObject('payloads', 'mailroute/latin1.json', Buffer.from([0x7b, 0xe9, 0x7d]));
    const resolve = s3PayloadResolver(policy, client);
    await expect(resolve(referenceTo('payloads', 'mailroute/latin1.json'))).rejects.toThrow(
      new PayloadRefusedError('s3://payloads/mailroute/latin1.json is not UTF-8 text: not a message JSON'),
    );
  });

  it('names the setting when the expected owner is no account id (dead-lettered as CONFIGURATION)', async () => {
    const resolve = s3PayloadResolver({ ...policy, expectedBucketOwner: 'my-account' }, client);
    const error = await resolve(referenceTo('payloads', 'mailroute/x.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues).toEqual([
      { path: 'MAILROUTE_PAYLOAD_BUCKET_OWNER', message: 'must be an AWS account id (12 digits), not "my-account"' },
    ]);
  });
});

describe('the payload policy', () => {
  it('reads bucket, prefix and owner from the environment; the prefix defaults to the producer default', () => {
    expect(payloadPolicyFromEnv({})).toEqual({ prefix: 'mailroute/', maxBytes: MAX_S3_PAYLOAD_BYTES });
    const env = {
      MAILROUTE_PAYLOAD_BUCKET: 'b',
      MAILROUTE_PAYLOAD_PREFIX: 'big/',
      MAILROUTE_PAYLOAD_BUCKET_OWNER: OWNER,
    };
    expect(payloadPolicyFromEnv(env)).toEqual({
      bucket: 'b',
      prefix: 'big/',
      expectedBucketOwner: OWNER,
      maxBytes: MAX_S3_PAYLOAD_BYTES,
    });
  });

  it('bounds a payload by the largest message of the built-in providers, not a number typed here', () => {
    const limits = builtInProviders.descriptors.flatMap((d) =>
      Object.values(d.modes).map((mode) => mode!.limits.maxEncodedBytes),
    );
    const largest = largestMessage();
    expect(largest.bytes).toBe(Math.max(...limits));
    expect(MAX_S3_PAYLOAD_BYTES).toBe(maxS3PayloadBytes(largest));
    expect(MAX_S3_PAYLOAD_BYTES).toBeGreaterThan((largest.bytes * 4) / 3);
  });
});

/**
 * An S3 that lies: HeadObject says `length` bytes, GetObject sends a chunked body that never ends. Resolves
 * `closedAfterBytes` with the bytes written when the client hung up.
 */
async function startLyingS3(length: number) {
  let closed: (bytes: number) => void = () => {};
  const closedAfterBytes = new Promise<number>((resolve) => {
    closed = resolve;
  });
  const server: Server = createServer((req, res) => {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': length, 'content-type': 'application/json', etag: '"1"' });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json', etag: '"1"' });
    let written = 0;
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const write = () => {
      while (!res.destroyed && res.write(chunk)) written += chunk.length;
    };
    res.on('drain', write);
    res.on('close', () => closed(written));
    write();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    closedAfterBytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
