import { randomUUID } from 'node:crypto';
import { type QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeQueueText } from '../../cli/dlq/azure.ts';
import { failedQueueSink } from '../../functions/azure/failed-queue.ts';
import { type Azurite, startAzurite } from '../helpers/azurite.ts';
import { type DlqCloud, dlqSuite, messageBody, run, threeLetters, writeDeadLetters } from './dlq-fixtures.ts';

let azurite: Azurite;
let service: QueueServiceClient;

beforeAll(async () => {
  azurite = await startAzurite({ services: ['queue'] });
  service = QueueServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(() => azurite.stop());

/** Every message text in a queue (peeked: nothing leased, nothing changed), decoded from base64. */
async function texts(queue: QueueClient): Promise<string[]> {
  const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
  const { approximateMessagesCount = 0 } = await queue.getProperties();
  // A leased message is not peeked: count them all, so a message held too long shows up as a mismatch.
  expect(peekedMessageItems).toHaveLength(approximateMessagesCount);
  return peekedMessageItems.map((m) => decodeQueueText(m.messageText));
}

async function freshQueues() {
  const id = randomUUID().slice(0, 8);
  const [failed, send] = [`mailroute-failed-${id}`, `mailroute-send-${id}`];
  await Promise.all([service.createQueue(failed), service.createQueue(send)]);
  return { failed, send, id };
}

const cloud: DlqCloud = {
  name: 'Azurite (Storage Queue)',
  async fresh() {
    const { failed, send, id } = await freshQueues();
    const env = { MAILROUTE_FAILED_QUEUE: failed, AzureWebJobsStorage: azurite.connectionString };
    return {
      from: `azure:${failed}`,
      to: `azure:${send}`,
      badTo: `azure:missing-${id}`,
      put: (letters) => writeDeadLetters(failedQueueSink(env), letters),
      dlqBodies: async () =>
        (await texts(service.getQueueClient(failed))).map((t) => (JSON.parse(t) as { body: string }).body),
      sentBodies: () => texts(service.getQueueClient(send)),
    };
  },
  args: () => [],
  env: () => ({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }),
};

dlqSuite(cloud);

describe('mailroute dlq on Azure: what only Storage Queue has', () => {
  it('a poison queue (the original text, no reason) replays to the queue it was poisoned from', async () => {
    const { send } = await freshQueues();
    const poison = service.getQueueClient(`${send}-poison`);
    await poison.create();
    const body = messageBody('poisoned');
    // The host moves a message as it was: base64 text; one that was never base64 is poisoned as it is.
    await poison.sendMessage(Buffer.from(body).toString('base64'));
    await poison.sendMessage(messageBody('plain text'));
    const listed = await run(['list', '--from', `azure:${send}-poison`], cloud);
    expect(listed.lines.slice(1, 3).every((l) => /^\S+\s+-\s+-\s+\d{4}-/.test(l))).toBe(true);
    const { code, lines } = await run(['replay', '--from', `azure:${send}-poison`], cloud);
    expect(code).toBe(0);
    expect(lines[0]).toBe(`Replaying azure:${send}-poison to azure:${send}.`);
    expect((await texts(service.getQueueClient(send))).sort()).toEqual([body, messageBody('plain text')].sort());
    // Written base64 again by the producer, as the Functions host reads it.
    const { peekedMessageItems } = await service.getQueueClient(send).peekMessages({ numberOfMessages: 32 });
    expect(peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString()).sort()).toEqual(
      [body, messageBody('plain text')].sort(),
    );
    expect(await texts(poison)).toEqual([]);
  });

  it('--connection-string-env names the variable; a missing one is said in a sentence', async () => {
    const q = await cloud.fresh();
    await q.put(threeLetters('env').slice(0, 1));
    const env = { MY_STORAGE: azurite.connectionString };
    const named = await run(['list', '--from', q.from, '--connection-string-env', 'MY_STORAGE'], cloud, { env });
    expect(named.code).toBe(0);
    expect(named.lines).toHaveLength(3);
    const missing = await run(['list', '--from', q.from], cloud, { env: {} });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.text)).toMatchObject({
      ok: false,
      error: { code: 'CONFIGURATION', message: expect.stringMatching(/^AZURE_STORAGE_CONNECTION_STRING is not set/) },
    });
  });
});
