import { randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_S3_PAYLOAD_BYTES, s3ReferenceBody } from '../../client/s3-reference.ts';
import { createSqsProducer } from '../../client/sqs-producer.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';
import { deadLetterTo } from '../../functions/aws/dead-letter.ts';
import { PayloadRefusedError } from '../../functions/aws/s3-payload.ts';
import { freePort } from '../helpers/child-process.ts';
import { type DlqCloud, dlqSuite, run, threeLetters, writeDeadLetters } from './dlq-fixtures.ts';

let sqs: SqsEmulator;
let s3: S3Emulator;
const credentials = { AWS_ACCESS_KEY_ID: 'AKIDDLQREPLAY', AWS_SECRET_ACCESS_KEY: 'dlq-replay-secret' };

beforeAll(async () => {
  [sqs, s3] = await Promise.all([startSqsEmulator(), startS3Emulator()]);
  // The function's own SQS client (functions/aws/sqs.ts) reads these, as in Lambda.
  for (const [name, value] of Object.entries({
    ...credentials,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SQS: sqs.url,
  }))
    vi.stubEnv(name, value);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([sqs.close(), s3.close()]);
});

/** What the CLI is given to read offloaded payloads: the S3 emulator, and the function's payload bucket. */
const payloadEnv = (): NodeJS.ProcessEnv => ({
  ...cloud.env(),
  AWS_ENDPOINT_URL_S3: s3.url,
  AWS_REGION: 'us-east-1',
  MAILROUTE_PAYLOAD_BUCKET: 'payloads',
});
const messageJson = (subject: string) =>
  JSON.stringify({ from: 'app@example.com', to: 'ann@example.net', subject, text: subject });

const cloud: DlqCloud = {
  name: 'the SQS emulator',
  async fresh() {
    const id = randomUUID().slice(0, 8);
    const dlq = sqs.createQueue(`mailroute-failures-${id}`);
    const send = sqs.createQueue(`mailroute-send-${id}`);
    return {
      // The queue URL alone: the CLI reaches the emulator at the URL's own host.
      from: dlq,
      to: `sqs:${send}`,
      badTo: sqs.queueUrl(`missing-${id}`),
      put: (letters) => writeDeadLetters(deadLetterTo(dlq), letters),
      dlqBodies: async () => sqs.messages(dlq.split('/').pop()!).map((m) => m.Body),
      sentBodies: async () => sqs.messages(send.split('/').pop()!).map((m) => m.Body),
    };
  },
  args: () => [],
  // No AWS_ENDPOINT_URL_SQS for the CLI: the queue URLs say where the queues are.
  env: () => ({ ...credentials, PATH: process.env.PATH }),
};

dlqSuite(cloud);

describe('mailroute dlq on SQS: what only SQS has', () => {
  it('a send queue on a closed port: the message stays, and its dead-letter attributes with it', async () => {
    const q = await cloud.fresh();
    const [letter] = threeLetters('closed');
    await q.put([letter!]);
    const closed = `http://127.0.0.1:${await freePort()}/000000000000/mailroute-send`;
    const { code, lines } = await run(['replay', '--from', q.from, '--to', closed], cloud);
    expect(code).toBe(1);
    expect(lines.find((l) => l.startsWith('failed '))).toMatch(/SQS SendMessage on .* failed .*ECONNREFUSED/);
    const [kept] = sqs.messages(q.from.split('/').pop()!);
    expect(kept?.Body).toBe(letter!.record.body);
    expect(kept?.MessageAttributes?.errorCode?.StringValue).toBe('RECIPIENT_REJECTED');
  });

  it('a FIFO send queue: replayed in the message group a producer gives, not dropped as a duplicate of the original', async () => {
    const id = randomUUID().slice(0, 8);
    const dlq = sqs.createQueue(`mailroute-failures-${id}.fifo`);
    const send = sqs.createQueue(`mailroute-send-${id}.fifo`);
    // The original enqueue a minute ago: its deduplication id is still remembered by the queue for 5 minutes.
    const client = new SQSClient({ region: 'us-east-1', endpoint: sqs.url });
    const [letter] = threeLetters('fifo');
    const original = await createSqsProducer({ queueUrl: send, client }).enqueue(JSON.parse(letter!.record.body));
    const sendName = send.split('/').pop()!;
    const [taken] = sqs.messages(sendName).splice(0);
    await writeDeadLetters(deadLetterTo(dlq), [
      { ...letter!, record: { ...letter!.record, groupId: taken!.MessageGroupId! } },
    ]);
    const { code, lines } = await run(['replay', '--from', dlq, '--to', send], cloud);
    expect(code).toBe(0);
    const [replayed] = sqs.messages(sendName);
    expect(replayed?.Body).toBe(letter!.record.body);
    expect(replayed?.MessageId).not.toBe(original.messageId);
    expect(lines.find((l) => l.startsWith('replayed '))).toContain(`as ${replayed?.MessageId}`);
    expect(replayed?.MessageGroupId).toBe('app@example.com');
    expect(replayed?.MessageDeduplicationId).toMatch(/^replay:/);
    expect(sqs.messages(dlq.split('/').pop()!)).toEqual([]);
    client.destroy();
  });

  it('--endpoint sends every call there, whatever host the queue URLs name', async () => {
    const q = await cloud.fresh();
    await q.put(threeLetters('endpoint').slice(0, 1));
    const elsewhere = (url: string) => url.replace(/^http:\/\/[^/]+/, 'https://sqs.us-east-1.amazonaws.com');
    const { code } = await run(
      ['replay', '--from', elsewhere(q.from), '--to', elsewhere(q.to.slice(4)), '--endpoint', sqs.url],
      cloud,
    );
    expect(code).toBe(0);
    expect(await q.sentBodies()).toHaveLength(1);
  });

  it('a body that is an S3 reference: the payload is read back and enqueued again, offloaded to the same key', async () => {
    s3.createBucket('payloads');
    const q = await cloud.fresh();
    const { S3Client } = await import('@aws-sdk/client-s3');
    const s3Client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.url,
      forcePathStyle: true,
      credentials: { accessKeyId: credentials.AWS_ACCESS_KEY_ID, secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY },
    });
    const big = JSON.stringify({
      from: 'app@example.com',
      to: 'ann@example.net',
      subject: 'large',
      text: 'x'.repeat(300_000),
    });
    // What a producer with S3 offload writes: the payload in S3, the reference on the queue.
    const sqsClient = new SQSClient({ region: 'us-east-1', endpoint: sqs.url });
    const original = createSqsProducer({
      queueUrl: q.from,
      client: sqsClient,
      s3: { bucket: 'payloads', client: s3Client },
    });
    const enqueued = await original.enqueue(JSON.parse(big));
    const [stored] = sqs.messages(q.from.split('/').pop()!).splice(0);
    expect(enqueued.offloaded).toBeDefined();
    await q.put([{ record: { id: 'src-large', body: stored!.Body }, error: threeLetters('x')[0]!.error }]);

    s3.requests.splice(0);
    const env = { ...payloadEnv(), MAILROUTE_PAYLOAD_BUCKET_OWNER: s3.accountId };
    const { code, lines } = await run(['replay', '--from', q.from, '--to', q.to], cloud, { env });
    expect(lines.join('\n')).toMatch(/Summary: replayed 1,/);
    expect(code).toBe(0);
    expect(await q.sentBodies()).toEqual([stored!.Body]);
    expect(s3.keys('payloads')).toEqual([enqueued.offloaded!.key]);
    // Read as the function reads it (length first, then the object) and written back, each for the owner.
    expect(s3.requests.map((r) => [r.method, r.key, r.expectedBucketOwner])).toEqual([
      ['HEAD', enqueued.offloaded!.key, s3.accountId],
      ['GET', enqueued.offloaded!.key, s3.accountId],
      ['PUT', enqueued.offloaded!.key, s3.accountId],
    ]);
    sqsClient.destroy();
    s3Client.destroy();
  });

  describe('an S3 reference is read only as the queue handler would read it', () => {
    /** A dead letter whose body is a reference, as the function set it aside (PAYLOAD_REFUSED). */
    async function referenceLetter(bucket: string, key: string) {
      const q = await cloud.fresh();
      const body = s3ReferenceBody({ bucket, key });
      const error = new PayloadRefusedError(`s3://${bucket}/${key} is not in the payload bucket`);
      await q.put([{ record: { id: `src-ref-${bucket}`, body }, error }]);
      return q;
    }
    const replay = (q: { from: string; to: string }, env: NodeJS.ProcessEnv) =>
      run(['replay', '--from', q.from, '--to', q.to], cloud, { env });
    /** The replay failed, enqueued nothing, and left the letter in the dead-letter queue. */
    async function expectLeftInPlace(
      q: { sentBodies(): Promise<string[]>; dlqBodies(): Promise<string[]> },
      code: number,
    ) {
      expect(code).not.toBe(0);
      expect(await q.sentBodies()).toEqual([]);
      expect(await q.dlqBodies()).toHaveLength(1);
    }

    it('another bucket than MAILROUTE_PAYLOAD_BUCKET: refused before S3 is asked, left in the dead-letter queue', async () => {
      s3.createBucket('elsewhere');
      s3.putObject('elsewhere', 'mailroute/secret.json', messageJson('not ours'));
      const q = await referenceLetter('elsewhere', 'mailroute/secret.json');
      s3.requests.splice(0);

      const { code, text } = await replay(q, payloadEnv());
      expect(text).toMatch(
        /failed .*s3:\/\/elsewhere\/mailroute\/secret\.json is not in the payload bucket: only s3:\/\/payloads\/mailroute\/\* is read \(left in the dead-letter queue\)/,
      );
      expect(text).toMatch(/Summary: replayed 0,/);
      expect(s3.requests).toEqual([]);
      await expectLeftInPlace(q, code);
    });

    it('no MAILROUTE_PAYLOAD_BUCKET: no reference is read, and the error names the variable', async () => {
      s3.createBucket('payloads');
      s3.putObject('payloads', 'mailroute/unset.json', messageJson('unset'));
      const q = await referenceLetter('payloads', 'mailroute/unset.json');
      s3.requests.splice(0);

      const { MAILROUTE_PAYLOAD_BUCKET: _, ...env } = payloadEnv();
      const { code, text } = await replay(q, env);
      expect(text).toMatch(/failed .*was not read: no payload bucket is set \(MAILROUTE_PAYLOAD_BUCKET\)/);
      expect(s3.requests).toEqual([]);
      await expectLeftInPlace(q, code);
    });

    it('an object over the largest message any provider takes: refused from its length, not a byte read', async () => {
      s3.createBucket('payloads');
      const key = 'mailroute/huge-replay.json';
      s3.putObject('payloads', key, Buffer.alloc(MAX_S3_PAYLOAD_BYTES + 1, 0x20));
      try {
        const q = await referenceLetter('payloads', key);
        s3.requests.splice(0);

        const { code, text } = await replay(q, payloadEnv());
        expect(text).toMatch(
          /failed .*s3:\/\/payloads\/mailroute\/huge-replay\.json is [\d,]+ bytes, over [\d,]+ bytes/,
        );
        expect(s3.requests.map((r) => [r.method, r.bytesServed])).toEqual([['HEAD', 0]]);
        await expectLeftInPlace(q, code);
      } finally {
        await fetch(`${s3.url}/payloads/${key}`, { method: 'DELETE' });
      }
    });
  });

  it('on a terminal: a progress bar redrawn in place, failures above it, the summary after it', async () => {
    const q = await cloud.fresh();
    const letters = threeLetters('tty');
    await q.put(letters);
    await q.put([{ record: { id: 'src-not-json', body: 'not json' }, error: letters[0]!.error }]);
    const writes: string[] = [];
    const { code, lines } = await run(['replay', '--from', q.from, '--to', q.to], cloud, {
      tty: true,
      columns: 100,
      write: (text) => writes.push(text),
    });
    expect(code).toBe(1);
    // Only the failure and the first and last lines: no line per replayed message.
    expect(lines).toEqual([
      expect.stringMatching(/^Replaying /),
      expect.stringMatching(/^failed \S+ \(RECIPIENT_REJECTED\): .*not JSON.* \(left in the dead-letter queue\)$/),
      'Summary: replayed 2, skipped ambiguous 1, failed 1, left in the dead-letter queue 2.',
    ]);
    const bars = writes.filter((w) => w.includes('/4'));
    expect(bars[0]).toBe('\r\x1b[2K[░░░░░░░░░░░░░░░░░░░░░░░░] 0/4  replayed 0 · skipped 0 · failed 0');
    expect(bars.at(-1)).toBe('\r\x1b[2K[████████████████████████] 4/4  replayed 2 · skipped 1 · failed 1');
    // The bar is cleared before the summary is printed.
    expect(writes.at(-1)).toBe('\r\x1b[2K');
  });
});
