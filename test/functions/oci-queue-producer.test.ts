import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createOciQueueProducer, OCI_QUEUE_DEFAULT_MAX_BYTES } from '../../client/oci.ts';
import {
  AuthenticationError,
  ConfigurationError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../../core/errors.ts';
import { type OciQueueEmulator, startOciQueueEmulator } from '../../emulators/oci-queue/server.ts';
import { apiKey, keyId, message, otherKey, SEND_QUEUE, signer } from './oci-world.ts';

let queues: OciQueueEmulator;
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error & Record<string, unknown>,
  );
const producer = (options: Record<string, unknown> = {}) =>
  createOciQueueProducer({
    queueId: SEND_QUEUE,
    endpoint: queues.url,
    authenticationDetailsProvider: signer(),
    ...options,
  });

beforeAll(async () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  queues = await startOciQueueEmulator({ keys: [{ keyId, publicKeyPem: apiKey.publicKey }] });
});
beforeEach(() => {
  queues.faults.clear();
  queues.createQueue(SEND_QUEUE);
});
afterAll(() => queues.close());

describe('OCI Queue producer (client/oci.ts) against the OCI Queue emulator', () => {
  it('puts the message JSON exactly as given, signed with the API key, and returns the queue message id', async () => {
    const input = message('queued for OCI', { idempotencyKey: 'order-7-receipt', text: 'Grüße – ✓' });
    const result = await producer().enqueue(input as never);
    const [stored] = queues.messages(SEND_QUEUE);
    expect(stored).toMatchObject({ content: JSON.stringify(input), keyId, deliveryCount: 0 });
    expect(result).toEqual({ messageId: String(stored!.id), expireAfter: expect.any(Date) });
  });

  it('refuses an invalid message with every field path, and puts nothing', async () => {
    const error = await failure(
      producer().enqueue({ from: 'not an address', to: [], subject: 'x\r\nBcc: y' } as never),
    );
    expect(error).toBeInstanceOf(InvalidMessageError);
    const paths = (error as unknown as InvalidMessageError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['from', 'subject']));
    expect(queues.messages(SEND_QUEUE)).toEqual([]);
  });

  it('refuses a message over the limit before any call, naming the limit', async () => {
    const big = message('big', { text: 'x'.repeat(OCI_QUEUE_DEFAULT_MAX_BYTES) });
    const error = await failure(producer().enqueue(big as never));
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error?.message).toMatch(/over the limit of 262144 bytes/);
    expect(error).toMatchObject({ limit: OCI_QUEUE_DEFAULT_MAX_BYTES });
    // With a larger limit configured than the queue takes, the queue's refusal is reported the same way.
    const again = await failure(producer({ maxMessageBytes: 524_288 }).enqueue(big as never));
    expect(again).toBeInstanceOf(MessageTooLargeError);
    expect(again).toMatchObject({ limit: OCI_QUEUE_DEFAULT_MAX_BYTES });
    expect(queues.messages(SEND_QUEUE)).toEqual([]);
  });

  it('a request signed with an unknown key is an AuthenticationError', async () => {
    const error = await failure(
      producer({ authenticationDetailsProvider: signer(otherKey.privateKey) }).enqueue(message('x') as never),
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error?.message).toMatch(
      new RegExp(`OCI Queue PutMessages on ${SEND_QUEUE} was refused \\(401 NotAuthenticated`),
    );
  });

  it('maps 429 to ThrottledError, 404 to ConfigurationError on queueId, 5xx and drops to ProviderUnavailableError', async () => {
    queues.faults.add({ status: 429, errorCode: 'TooManyRequests' });
    expect(await failure(producer().enqueue(message('x') as never))).toBeInstanceOf(ThrottledError);

    const missing = 'ocid1.queue.oc1.eu-frankfurt-1.amaaaaaanosuchqueue';
    const notFound = await failure(producer({ queueId: missing }).enqueue(message('x') as never));
    expect(notFound).toBeInstanceOf(ConfigurationError);
    expect((notFound as unknown as ConfigurationError).issues).toEqual([
      { path: 'queueId', message: expect.stringContaining(missing) },
    ]);

    queues.faults.add({ status: 503 });
    expect(await failure(producer().enqueue(message('x') as never))).toBeInstanceOf(ProviderUnavailableError);
    queues.faults.add({ drop: true });
    const dropped = await failure(producer().enqueue(message('x') as never));
    expect(dropped).toBeInstanceOf(ProviderUnavailableError);
    expect(dropped).toMatchObject({ retryable: true });
    // No retry by the SDK: each fault was played once and nothing landed.
    expect(queues.messages(SEND_QUEUE)).toEqual([]);
  });

  it('checks its options strictly', () => {
    expect(() => producer({ queueID: 'typo' })).toThrow(/createOciQueueProducer.queueID is not an option/);
    expect(() => createOciQueueProducer({ queueId: SEND_QUEUE })).toThrow(
      /endpoint and authenticationDetailsProvider required unless client is given/,
    );
  });
});
