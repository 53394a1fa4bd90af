import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';

let sqs: SqsEmulator;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startSqsEmulator({ maxMessageBytes: 1024 });
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

describe('SQS emulator through @aws-sdk/client-sqs', () => {
  it('creates a queue, sends with attributes (the SDK checks both MD5 digests), receives and deletes', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'send' }));
    const sent = await client.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: '{"hello":"world"}',
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'INVALID' },
          n: { DataType: 'Number', StringValue: '3' },
        },
      }),
    );
    expect(sent.MessageId).toBeTruthy();
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['{"hello":"world"}']);
    expect(got.Messages?.[0]?.MessageAttributes?.reason?.StringValue).toBe('INVALID');
    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: got.Messages![0]!.ReceiptHandle }));
    expect(sqs.messages('send')).toEqual([]);
  });

  it('refuses a body over the size limit and an unknown queue, as SQS does', async () => {
    const QueueUrl = sqs.createQueue('small');
    await expect(
      client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x'.repeat(2000) })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await expect(
      client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl('nope'), MessageBody: 'x' })),
    ).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
  });

  it('FIFO: needs a group id and drops a repeated deduplication id', async () => {
    const QueueUrl = sqs.createQueue('send.fifo');
    await expect(client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'a' }))).rejects.toMatchObject({
      name: 'MissingParameter',
    });
    const first = await client.send(
      new SendMessageCommand({ QueueUrl, MessageBody: 'a', MessageGroupId: 'g', MessageDeduplicationId: 'k' }),
    );
    const again = await client.send(
      new SendMessageCommand({ QueueUrl, MessageBody: 'a', MessageGroupId: 'g', MessageDeduplicationId: 'k' }),
    );
    expect(again.MessageId).toBe(first.MessageId);
    expect(sqs.messages('send.fifo')).toHaveLength(1);
    const batch = await client.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: '1', MessageBody: 'b', MessageGroupId: 'g', MessageDeduplicationId: 'k2' },
          { Id: '2', MessageBody: 'c' },
        ],
      }),
    );
    expect(batch.Successful?.map((s) => s.Id)).toEqual(['1']);
    expect(batch.Failed?.map((f) => [f.Id, f.Code])).toEqual([['2', 'MissingParameter']]);
  });

  it('plays injected faults', async () => {
    const QueueUrl = sqs.createQueue('faulty');
    sqs.faults.add({ status: 500 });
    await expect(client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
    await expect(client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }))).resolves.toBeDefined();
  });

  it('hang: the request is taken and never answered, nothing stored; the abortSignal given to the SDK ends it', async () => {
    const QueueUrl = sqs.createQueue('silent');
    sqs.faults.add({ hang: true });
    try {
      const sending = client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }), {
        abortSignal: AbortSignal.timeout(200),
      });
      await expect(sending).rejects.toMatchObject({ name: 'AbortError' });
      expect(sqs.messages('silent')).toEqual([]);
    } finally {
      sqs.faults.clear();
    }
  });
});
