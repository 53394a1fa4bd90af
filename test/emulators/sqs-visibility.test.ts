import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';

let sqs: SqsEmulator;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startSqsEmulator();
  client = new SQSClient({
    region: 'us-east-1',
    endpoint: sqs.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await sqs.close();
});

const receive = (QueueUrl: string, VisibilityTimeout?: number) =>
  client
    .send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout }))
    .then((r) => r.Messages ?? []);

describe('SQS emulator: visibility timeout', () => {
  it("a received message is in flight for the receive's VisibilityTimeout, then visible again", async () => {
    const { QueueUrl = '' } = await client.send(new CreateQueueCommand({ QueueName: 'visibility' }));
    const before = Date.now();
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'one' }));
    const [first] = await receive(QueueUrl, 1);
    expect(first?.Body).toBe('one');
    expect(Number(first?.Attributes?.SentTimestamp)).toBeGreaterThanOrEqual(before);
    expect(first?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await receive(QueueUrl)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const [again] = await receive(QueueUrl, 0);
    expect([again?.Body, again?.Attributes?.ApproximateReceiveCount]).toEqual(['one', '2']);
    expect(again?.Attributes?.ApproximateFirstReceiveTimestamp).toBe(
      first?.Attributes?.ApproximateFirstReceiveTimestamp,
    );
    // VisibilityTimeout 0: visible at once.
    expect((await receive(QueueUrl)).map((m) => m.Body)).toEqual(['one']);
  });

  it('the queue attribute VisibilityTimeout is the default; 30 s without it', async () => {
    const QueueUrl = sqs.createQueue('short', { VisibilityTimeout: '0' });
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }));
    expect(await receive(QueueUrl)).toHaveLength(1);
    expect(await receive(QueueUrl)).toHaveLength(1);
    const created = await client.send(
      new CreateQueueCommand({ QueueName: 'created-short', Attributes: { VisibilityTimeout: '0' } }),
    );
    await client.send(new SendMessageCommand({ QueueUrl: created.QueueUrl, MessageBody: 'y' }));
    expect(await receive(created.QueueUrl!)).toHaveLength(1);
    expect(await receive(created.QueueUrl!)).toHaveLength(1);
    const standard = sqs.createQueue('standard');
    await client.send(new SendMessageCommand({ QueueUrl: standard, MessageBody: 'z' }));
    expect(await receive(standard)).toHaveLength(1);
    expect(await receive(standard)).toHaveLength(0);
  });

  it('ChangeMessageVisibility: 0 gives a message back at once; a longer one extends the lease', async () => {
    const QueueUrl = sqs.createQueue('change');
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'a' }));
    const [got] = await receive(QueueUrl, 60);
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: got!.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const [back] = await receive(QueueUrl, 1);
    expect(back?.Body).toBe('a');
    const changedAt = Date.now();
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: back!.ReceiptHandle, VisibilityTimeout: 60 }),
    );
    // Extended: in flight for 60 s from the change (not the 1 s of the receive), which a receive respects.
    expect(sqs.messages('change')[0]?.invisibleUntil).toBeGreaterThanOrEqual(changedAt + 60_000);
    expect(await receive(QueueUrl)).toEqual([]);
  });

  it('ChangeMessageVisibility refuses an unknown handle, a message no longer in flight and a bad timeout', async () => {
    const QueueUrl = sqs.createQueue('refusals');
    await expect(
      client.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: 'nope', VisibilityTimeout: 0 })),
    ).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid' });
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'b' }));
    const [got] = await receive(QueueUrl, 0);
    await expect(
      client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: got!.ReceiptHandle, VisibilityTimeout: 5 }),
      ),
    ).rejects.toMatchObject({ name: 'MessageNotInflight' });
    const [leased] = await receive(QueueUrl, 30);
    await expect(
      client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: leased!.ReceiptHandle,
          VisibilityTimeout: 43_201,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('DeleteMessage needs a receipt handle (it no longer deletes messages never received)', async () => {
    const QueueUrl = sqs.createQueue('delete');
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'c' }));
    await expect(
      client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: undefined as unknown as string })),
    ).rejects.toMatchObject({ name: 'MissingParameter' });
    expect(sqs.messages('delete')).toHaveLength(1);
  });
});
