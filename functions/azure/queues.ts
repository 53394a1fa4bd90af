import type { TriggerMetadata } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { ConfigurationError } from '../../core/errors.ts';
import type { QueueRecord } from '../../core/runtime/queue-batch.ts';
import { SEND_QUEUE_SETTING } from './bindings.ts';
import { storageAccess } from './storage.ts';

const clients = new Map<string, Promise<QueueClient>>();

/**
 * One client per queue per instance, the Storage Queue SDK loaded with the first (a dead letter, an enqueued send:
 * most instances never write one); `@azure/identity` (about 1 s to load) only when the identity is used.
 */
export function queueClient(queueName: string, env: NodeJS.ProcessEnv = process.env): Promise<QueueClient> {
  const make = async () => {
    const access = storageAccess(env);
    const { QueueClient } = await import('@azure/storage-queue');
    if ('connectionString' in access) return new QueueClient(access.connectionString, queueName);
    const { DefaultAzureCredential } = await import('@azure/identity');
    const credential = new DefaultAzureCredential(access.clientId ? { managedIdentityClientId: access.clientId } : {});
    return new QueueClient(`${access.serviceUri('queue').replace(/\/$/, '')}/${queueName}`, credential);
  };
  const client = clients.get(queueName) ?? make();
  clients.set(queueName, client);
  return client.catch((error: unknown) => {
    clients.delete(queueName);
    throw error;
  });
}

/**
 * A queue message as the runtime sees it: the worker hands over the decoded text JSON-parsed when it is JSON, else
 * as the string; the idempotency key falls back to the queue message id, the same on every dequeue.
 */
export function toQueueRecord(item: unknown, metadata: TriggerMetadata = {}): QueueRecord {
  const body = typeof item === 'string' ? item : Buffer.isBuffer(item) ? item.toString('utf8') : JSON.stringify(item);
  const count = Number(metadata.dequeueCount);
  // The host always gives the id; without it a redelivery could not be recognised, so refuse rather than guess.
  if (typeof metadata.id !== 'string' || !metadata.id) throw new TypeError('the trigger metadata has no message id');
  return {
    id: metadata.id,
    body: body ?? '',
    ...(Number.isInteger(count) && count > 0 ? { receiveCount: count } : {}),
  };
}

/** HTTP enqueue mode: the checked message onto the send queue, with the same producer other services use. */
export async function enqueueToSendQueue(text: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const queueName = env[SEND_QUEUE_SETTING];
  if (!queueName) throw new ConfigurationError(`${SEND_QUEUE_SETTING} is not set: enqueue mode needs the send queue`);
  const { createStorageQueueProducer } = await import('../../client/azure.ts');
  const producer = createStorageQueueProducer({ queueClient: await queueClient(queueName, env) });
  return (await producer.enqueue(JSON.parse(text))).messageId;
}
