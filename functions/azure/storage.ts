import type { TriggerMetadata } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { createStorageQueueProducer } from '../../client/azure.ts';
import { sendQueueText } from '../../client/azure-queue-text.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { DeadLetterSink, QueueRecord } from '../../core/queue-batch.ts';
import { FAILED_QUEUE_SETTING, SEND_QUEUE_SETTING, STORAGE_CONNECTION } from './bindings.ts';

/**
 * How the app reaches its storage account, from the same settings the host uses for `AzureWebJobsStorage`:
 * a connection string (local, Azurite), or the managed identity with `__accountName` or `__<service>ServiceUri`
 * (and `__clientId` for a user-assigned identity).
 */
export type StorageAccess =
  | { connectionString: string }
  | { serviceUri: (service: 'queue' | 'table') => string; clientId?: string };

export function storageAccess(env: NodeJS.ProcessEnv = process.env): StorageAccess {
  const connectionString = env[STORAGE_CONNECTION];
  if (connectionString) return { connectionString };
  const account = env[`${STORAGE_CONNECTION}__accountName`];
  const uri = (service: 'queue' | 'table') =>
    env[`${STORAGE_CONNECTION}__${service}ServiceUri`] ?? `https://${account}.${service}.core.windows.net`;
  if (!account && !env[`${STORAGE_CONNECTION}__queueServiceUri`]) {
    const message = `set ${STORAGE_CONNECTION} (a connection string) or ${STORAGE_CONNECTION}__accountName (managed identity)`;
    throw new ConfigurationError(`no storage account: ${message}`, { issues: [{ path: STORAGE_CONNECTION, message }] });
  }
  const clientId = env[`${STORAGE_CONNECTION}__clientId`];
  return { serviceUri: uri, ...(clientId ? { clientId } : {}) };
}

const clients = new Map<string, Promise<QueueClient>>();

/** One client per queue per instance; `@azure/identity` (about 1 s to load) only when the identity is used. */
export function queueClient(queueName: string, env: NodeJS.ProcessEnv = process.env): Promise<QueueClient> {
  const make = async () => {
    const access = storageAccess(env);
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
 * A queue message as the cloud-neutral batch sees it. The worker hands over the decoded text JSON-parsed when it
 * is JSON (an object), else as the string; the idempotency key falls back to the queue message id, which stays
 * the same on every dequeue of the message.
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

/**
 * Permanent failures go at once to the failed queue (`MAILROUTE_FAILED_QUEUE`), base64 JSON like every mailroute
 * queue: `{ body, reason, errorCode, sourceMessageId, dequeueCount, failedAt, issues? }`, kept until read
 * (no time to live). Throws when it cannot be written (the message then stays on the send queue): also when the
 * record would pass 64 KiB, so an original near the limit ends in the poison queue whole, never cut. The call's
 * signal is the SDK's `abortSignal`: it cancels the request and the storage retry policy's further tries.
 */
export function failedQueueSink(env: NodeJS.ProcessEnv = process.env): DeadLetterSink {
  return async (record, reason, error, call = {}) => {
    const queueName = env[FAILED_QUEUE_SETTING];
    if (!queueName)
      throw new ConfigurationError(`${FAILED_QUEUE_SETTING} is not set: nowhere to put a permanent failure`);
    const errorCode = typeof error?.code === 'string' ? error.code : (/^[A-Z_]+(?=:)/.exec(reason)?.[0] ?? 'UNKNOWN');
    const failed = {
      body: record.body,
      reason,
      errorCode,
      sourceMessageId: record.id,
      ...(record.receiveCount ? { dequeueCount: record.receiveCount } : {}),
      failedAt: new Date().toISOString(),
      ...(error?.issues ? { issues: error.issues } : {}),
    };
    await sendQueueText(await queueClient(queueName, env), JSON.stringify(failed), {
      timeToLiveSeconds: -1,
      ...(call.signal ? { abortSignal: call.signal } : {}),
    });
  };
}

/** HTTP enqueue mode: the checked message onto the send queue, with the same producer other services use. */
export async function enqueueToSendQueue(text: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const queueName = env[SEND_QUEUE_SETTING];
  if (!queueName) throw new ConfigurationError(`${SEND_QUEUE_SETTING} is not set: enqueue mode needs the send queue`);
  const producer = createStorageQueueProducer({ queueClient: await queueClient(queueName, env) });
  return (await producer.enqueue(JSON.parse(text))).messageId;
}
