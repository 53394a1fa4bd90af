import type { QueueClient } from 'oci-queue';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createOciQueueClient } from '../../client/oci.ts';
import { type OciQueueEmulator, startOciQueueEmulator } from '../../emulators/oci-queue/server.ts';
import { apiKey, keyId, signer } from '../functions/oci-world.ts';

const QUEUE = 'ocid1.queue.oc1.eu-frankfurt-1.amaaaaaaupdatequeue';
let queues: OciQueueEmulator;
let client: QueueClient;

beforeAll(async () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  queues = await startOciQueueEmulator({ keys: [{ keyId, publicKeyPem: apiKey.publicKey }] });
  client = createOciQueueClient(queues.url, signer());
});
afterAll(async () => {
  client.close();
  await queues.close();
});

const get = (options: { channelFilter?: string; visibilityInSeconds?: number } = {}) =>
  client.getMessages({ queueId: QUEUE, limit: 20, ...options }).then((r) => r.getMessages.messages);

describe('OCI Queue emulator: UpdateMessage and channelFilter', () => {
  it('UpdateMessage changes a delivered message’s visibility: 0 gives it back at once', async () => {
    queues.createQueue(QUEUE, { visibilityInSeconds: 30 });
    await client.putMessages({ queueId: QUEUE, putMessagesDetails: { messages: [{ content: 'a' }] } });
    const [got] = await get();
    expect(await get()).toEqual([]);
    const updated = await client.updateMessage({
      queueId: QUEUE,
      messageReceipt: got!.receipt,
      updateMessageDetails: { visibilityInSeconds: 0 },
    });
    expect(new Date(updated.updatedMessage.visibleAfter).getTime()).toBeLessThanOrEqual(Date.now());
    const [again] = await get();
    expect([again?.content, again?.deliveryCount]).toEqual(['a', 2]);
    await expect(
      client.updateMessage({
        queueId: QUEUE,
        messageReceipt: 'nope',
        updateMessageDetails: { visibilityInSeconds: 0 },
      }),
    ).rejects.toMatchObject({ statusCode: 404 });
    await expect(
      client.updateMessage({
        queueId: QUEUE,
        messageReceipt: again!.receipt,
        updateMessageDetails: { visibilityInSeconds: 50_000 },
      }),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  it('channelFilter returns the messages of the channel whose id matches exactly', async () => {
    queues.createQueue(QUEUE, { visibilityInSeconds: 0 });
    await client.putMessages({
      queueId: QUEUE,
      putMessagesDetails: {
        messages: [
          { content: 'plain' },
          { content: 'failed', metadata: { channelId: 'mailroute-failed' } },
          { content: 'other', metadata: { channelId: 'mailroute-failed-2' } },
        ],
      },
    });
    expect((await get({ channelFilter: 'mailroute-failed' })).map((m) => m.content)).toEqual(['failed']);
    expect((await get()).map((m) => m.content)).toEqual(['plain', 'failed', 'other']);
  });
});
