import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsProducer } from '../../client/aws.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { processBatch, type QueueRecord } from '../../core/runtime/queue-batch.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';
import { s3PayloadResolver } from '../../functions/aws/s3-payload.ts';
import { createAdapter } from '../../providers/index.ts';
import { producerMessage, s3Client, sqsClient } from '../client/aws-fixtures.ts';

let sqs: SqsEmulator;
let s3: S3Emulator;
let mailer: Mailer;
let outbox: string;
const deadLetters: { id: string; reason: string }[] = [];

beforeAll(async () => {
  sqs = await startSqsEmulator({ maxMessageBytes: 1024 });
  s3 = await startS3Emulator();
  s3.createBucket('payloads');
  outbox = mkdtempSync(join(tmpdir(), 'mr-s3ref-'));
  mailer = new Mailer(
    validateConfig({ providers: [{ provider: 'local', mode: 'api' }], outboxDir: outbox }),
    createAdapter,
  );
});
afterAll(async () => {
  await mailer.close();
  await sqs.close();
  await s3.close();
});

describe('an SQS record that stands for a payload offloaded to S3', () => {
  it('is read back from S3 and sent; a reference to a missing object is dead-lettered with its location', async () => {
    const client = s3Client(s3.url);
    const producer = createSqsProducer({
      queueUrl: sqs.createQueue('send'),
      client: sqsClient(sqs.url),
      maxMessageBytes: 1024,
      s3: { bucket: 'payloads', client },
    });
    const big = producerMessage({ text: 'x'.repeat(5_000) });
    const queued = await producer.enqueue(big);
    expect(queued.offloaded?.bucket).toBe('payloads');
    const [message] = sqs.messages('send');
    const getObject = async (bucket: string, key: string) => {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await object.Body?.transformToString('utf-8')) ?? '';
    };
    const records: QueueRecord[] = [
      { id: 'offloaded', body: message!.Body },
      { id: 'missing', body: JSON.stringify({ mailrouteS3Ref: { bucket: 'payloads', key: 'gone.json' } }) },
    ];
    const outcomes = await processBatch(records, {
      mailer,
      resolveBody: s3PayloadResolver(getObject),
      deadLetter: async (record, reason) => {
        deadLetters.push({ id: record.id, reason });
      },
    });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['offloaded', 'sent'],
      ['missing', 'dead-letter'],
    ]);
    expect(deadLetters[0]?.reason).toMatch(/s3:\/\/payloads\/gone\.json cannot be read \(NoSuchKey\)/);
    expect(readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });
});
