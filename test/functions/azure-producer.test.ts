import { randomUUID } from 'node:crypto';
import { QueueClient, QueueServiceClient, StorageSharedKeyCredential } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorageQueueProducer, STORAGE_QUEUE_MAX_BYTES, translateStorageQueueError } from '../../client/azure.ts';
import { isMailrouteError } from '../../core/errors.ts';
import { type Azurite, startAzurite } from '../helpers/azurite.ts';

// The producer client against a real queue in Azurite. (It lives here with the other Azure tests.)

let azurite: Azurite;
let service: QueueServiceClient;

const message = (extra: Record<string, unknown> = {}) => ({
  from: 'Billing <billing@example.com>',
  to: 'ann@example.net',
  subject: 'Your invoice',
  text: 'Invoice attached.',
  ...extra,
});

async function newQueue(): Promise<string> {
  const name = `producer-${randomUUID().slice(0, 8)}`;
  await service.createQueue(name);
  return name;
}

async function stored(queueName: string): Promise<string[]> {
  const { peekedMessageItems } = await service.getQueueClient(queueName).peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => m.messageText);
}

/** The rejection of a promise, for assertions on the project's error classes. */
async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (isMailrouteError(error)) return error.toJSON();
    throw error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  azurite = await startAzurite({ services: ['queue'] });
  service = QueueServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(() => azurite.stop());

describe('createStorageQueueProducer', () => {
  it('writes the message JSON base64-encoded, as the Functions host decodes it', async () => {
    const queueName = await newQueue();
    const producer = createStorageQueueProducer({ connectionString: azurite.connectionString, queueName });
    const sent = await producer.enqueue(message({ idempotencyKey: 'invoice-2026-0042', text: 'Grüße ✓' }));
    expect(sent).toMatchObject({
      messageId: expect.any(String),
      bytes: expect.any(Number),
      insertedOn: expect.any(Date),
    });
    const [text] = await stored(queueName);
    expect(text).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.byteLength(text!)).toBe(sent.bytes);
    expect(JSON.parse(Buffer.from(text!, 'base64').toString('utf8'))).toEqual(
      message({ idempotencyKey: 'invoice-2026-0042', text: 'Grüße ✓' }),
    );
  });

  it('validates first: an invalid message throws with every field path and nothing is enqueued', async () => {
    const queueName = await newQueue();
    const producer = createStorageQueueProducer({ connectionString: azurite.connectionString, queueName });
    expect(await failure(producer.enqueue(message({ to: ['ann@example.net', 'nope'], from: 'x' })))).toMatchObject({
      code: 'INVALID_MESSAGE',
      issues: expect.arrayContaining([
        expect.objectContaining({ path: 'to[1]' }),
        expect.objectContaining({ path: 'from' }),
      ]),
    });
    expect(await stored(queueName)).toEqual([]);
  });

  it('refuses a message over 64 KiB after base64 (so about 48 KiB of JSON), naming the limit, before sending', async () => {
    const queueName = await newQueue();
    const producer = createStorageQueueProducer({ connectionString: azurite.connectionString, queueName });
    const error = await failure(producer.enqueue(message({ text: 'x'.repeat(49_200) })));
    expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', limit: STORAGE_QUEUE_MAX_BYTES, retryable: false });
    expect(error.message).toMatch(
      new RegExp(
        `^the message JSON for Azure Storage queue ${queueName}, base64-encoded, is \\d+ bytes, over the limit of 65536 bytes`,
      ),
    );
    expect(await stored(queueName)).toEqual([]);
    // Just under: 48 KiB of JSON is 64 KiB of base64, which the queue takes.
    await producer.enqueue(message({ text: 'x'.repeat(48_000) }));
    expect(await stored(queueName)).toHaveLength(1);
  });

  it('queueUrl with a credential (shared key here; DefaultAzureCredential in Azure) and a smaller maxMessageBytes', async () => {
    const queueName = await newQueue();
    const producer = createStorageQueueProducer({
      queueUrl: `${azurite.queueEndpoint}/${queueName}`,
      credential: new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
      maxMessageBytes: 1024,
    });
    expect(producer.queueName).toBe(queueName);
    await producer.enqueue(message());
    expect(await failure(producer.enqueue(message({ text: 'y'.repeat(1000) })))).toMatchObject({ limit: 1024 });
    expect(await stored(queueName)).toHaveLength(1);
  });

  it('maps Azure errors: a missing queue names the option, a wrong key is an authentication error', async () => {
    const missing = createStorageQueueProducer({
      connectionString: azurite.connectionString,
      queueName: 'no-such-queue',
    });
    expect(await failure(missing.enqueue(message()))).toMatchObject({
      code: 'CONFIGURATION',
      providerCode: 'QueueNotFound',
      issues: [{ path: 'queueName', message: expect.stringMatching(/no-such-queue does not exist/) }],
    });
    const queueName = await newQueue();
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const refused = createStorageQueueProducer({
      queueUrl: `${azurite.queueEndpoint}/${queueName}`,
      credential: new StorageSharedKeyCredential(azurite.accountName, wrongKey),
    });
    const error = await failure(refused.enqueue(message()));
    expect(error).toMatchObject({ code: 'AUTHENTICATION', retryable: false });
    expect(JSON.stringify(error)).not.toContain(wrongKey);
  });

  it('an unreachable account is retryable (ProviderUnavailableError); a throttle is a ThrottledError', async () => {
    const client = new QueueClient('http://127.0.0.1:9/devstoreaccount1/q', undefined, {
      retryOptions: { maxTries: 1 },
    });
    const producer = createStorageQueueProducer({ queueClient: client });
    expect(await failure(producer.enqueue(message()))).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryable: true });
    // Storage answers its throttle as 503 ServerBusy (forced: Azurite never throttles).
    const busy = {
      name: 'RestError',
      code: 'ServerBusy',
      statusCode: 503,
      message: 'Operations per second is over the account limit.\nRequestId:1',
    };
    const target = { operation: 'SendMessage', resource: 'Azure Storage queue q', setting: 'queueName' };
    expect(translateStorageQueueError(busy, target).toJSON()).toMatchObject({
      code: 'THROTTLED',
      message:
        'Storage Queue SendMessage on Azure Storage queue q was throttled (ServerBusy): Operations per second is over the account limit.',
    });
  });

  it('checks its options strictly, as the SQS producer does', () => {
    expect(() => createStorageQueueProducer({ queueName: 'q' })).toThrow(
      /exactly one of connectionString, queueUrl or queueClient/,
    );
    expect(() =>
      createStorageQueueProducer({
        connectionString: azurite.connectionString,
        queueName: 'q',
        queueUrl: 'https://a.queue.core.windows.net/q',
      }),
    ).toThrow(/exactly one/);
    expect(() => createStorageQueueProducer({ connectionString: azurite.connectionString })).toThrow(
      /queueName: is required/,
    );
    expect(() =>
      createStorageQueueProducer({
        connectionString: azurite.connectionString,
        queueName: 'q',
        maxMessageBytes: 70_000,
      } as never),
    ).toThrow(/maxMessageBytes must be a whole number from 1 to 65536/);
    expect(() =>
      createStorageQueueProducer({
        connectionString: azurite.connectionString,
        queueName: 'q',
        encoding: 'base64',
      } as never),
    ).toThrow(/encoding is not an option/);
  });
});
