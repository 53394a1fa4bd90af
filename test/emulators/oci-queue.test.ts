import { request } from 'node:http';
import type { QueueClient } from 'oci-queue';
import { SecretsClient } from 'oci-secrets';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createOciQueueClient } from '../../client/oci.ts';
import { ociClientConfiguration } from '../../client/oci-sdk.ts';
import { type OciQueueEmulator, startOciQueueEmulator } from '../../emulators/oci-queue/server.ts';
import { type OciVaultEmulator, startOciVaultEmulator } from '../../emulators/oci-vault/server.ts';
import { apiKey, keyId, otherKey, signer } from '../functions/oci-world.ts';

const QUEUE = 'ocid1.queue.oc1.eu-frankfurt-1.amaaaaaaemulatorqueue';
const SECRET = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaaemulatorsecret';
let queues: OciQueueEmulator;
let vault: OciVaultEmulator;
let client: QueueClient;

const statusOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 200,
    (error: { statusCode?: number; serviceCode?: string }) => `${error.statusCode} ${error.serviceCode}`,
  );

beforeAll(async () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  const keys = [{ keyId, publicKeyPem: apiKey.publicKey }];
  [queues, vault] = await Promise.all([
    startOciQueueEmulator({ keys }),
    startOciVaultEmulator({ keys, secrets: { [SECRET]: 'pässword with ünicode' } }),
  ]);
  client = createOciQueueClient(queues.url, signer());
});
afterAll(async () => {
  client.close();
  await Promise.all([queues.close(), vault.close()]);
});

describe('OCI Queue emulator', () => {
  it('PutMessages, GetMessages (delivery count, receipt, visibility) and DeleteMessage through the SDK', async () => {
    queues.createQueue(QUEUE, { visibilityInSeconds: 30 });
    const put = await client.putMessages({
      queueId: QUEUE,
      putMessagesDetails: {
        messages: [
          { content: 'first' },
          { content: 'second', metadata: { channelId: 'c1', customProperties: { reason: 'x' } } },
        ],
      },
    });
    expect(put.putMessages.messages.map((m) => typeof m.id)).toEqual(['number', 'number']);

    const got = (await client.getMessages({ queueId: QUEUE, limit: 20 })).getMessages.messages;
    expect(got.map((m) => [m.content, m.deliveryCount, m.metadata?.channelId])).toEqual([
      ['first', 1, undefined],
      ['second', 1, 'c1'],
    ]);
    // In flight for 30 s: not delivered again.
    expect((await client.getMessages({ queueId: QUEUE, limit: 20 })).getMessages.messages).toEqual([]);
    await client.deleteMessage({ queueId: QUEUE, messageReceipt: got[0]!.receipt });
    expect(queues.messages(QUEUE).map((m) => m.content)).toEqual(['second']);
    expect(await statusOf(client.deleteMessage({ queueId: QUEUE, messageReceipt: got[0]!.receipt }))).toBe(
      '404 NotAuthorizedOrNotFound',
    );
  });

  it('moves a message to the dead-letter queue once it was delivered dead_letter_queue_delivery_count times', async () => {
    queues.createQueue(QUEUE, { visibilityInSeconds: 0, deadLetterQueueDeliveryCount: 2 });
    await client.putMessages({ queueId: QUEUE, putMessagesDetails: { messages: [{ content: 'poison' }] } });
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const got = (await client.getMessages({ queueId: QUEUE })).getMessages.messages;
      counts.push(...got.map((m) => m.deliveryCount));
    }
    expect(counts).toEqual([1, 2]);
    expect(queues.messages(QUEUE)).toEqual([]);
    expect(queues.deadLetters(QUEUE).map((m) => [m.content, m.deliveryCount])).toEqual([['poison', 2]]);
  });

  it('refuses unsigned, wrongly signed, unknown-queue and malformed requests as OCI does', async () => {
    queues.createQueue(QUEUE);
    const unsigned = await new Promise<number>((resolve) => {
      const url = new URL(`/20210201/queues/${QUEUE}/messages`, queues.url);
      request(url, { method: 'GET' }, (res) => resolve(res.statusCode ?? 0)).end();
    });
    expect(unsigned).toBe(401);
    const stranger = createOciQueueClient(queues.url, signer(otherKey.privateKey));
    expect(await statusOf(stranger.getMessages({ queueId: QUEUE }))).toBe('401 NotAuthenticated');
    expect(await statusOf(client.getMessages({ queueId: 'ocid1.queue.oc1..nosuch' }))).toBe(
      '404 NotAuthorizedOrNotFound',
    );
    const empty = client.putMessages({ queueId: QUEUE, putMessagesDetails: { messages: [{ content: '' }] } });
    expect(await statusOf(empty)).toBe('400 InvalidParameter');
    stranger.close();
  });
});

describe('OCI Vault emulator (secret bundles)', () => {
  const secrets = (privateKey?: string) => {
    const c = new SecretsClient({ authenticationDetailsProvider: signer(privateKey) }, ociClientConfiguration());
    c.endpoint = vault.url;
    return c;
  };

  it('answers the CURRENT version as a BASE64 bundle to a signed GetSecretBundle', async () => {
    const { secretBundle } = await secrets().getSecretBundle({ secretId: SECRET });
    expect(secretBundle).toMatchObject({ secretId: SECRET, versionNumber: 1, stages: ['CURRENT', 'LATEST'] });
    const content = secretBundle.secretBundleContent as { contentType: string; content: string };
    expect(content.contentType).toBe('BASE64');
    expect(Buffer.from(content.content, 'base64').toString('utf8')).toBe('pässword with ünicode');
  });

  it('refuses an unknown secret (404) and a wrong key (401)', async () => {
    expect(await statusOf(secrets().getSecretBundle({ secretId: `${SECRET}x` }))).toBe('404 NotAuthorizedOrNotFound');
    expect(await statusOf(secrets(otherKey.privateKey).getSecretBundle({ secretId: SECRET }))).toBe(
      '401 NotAuthenticated',
    );
  });
});
