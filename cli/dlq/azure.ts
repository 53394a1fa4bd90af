import { QueueClient } from '@azure/storage-queue';
import {
  createStorageQueueProducer,
  type StorageQueueProducer,
  translateStorageQueueError,
} from '../../client/azure.ts';
import { ConfigurationError } from '../../core/errors.ts';
import {
  type AdapterOptions,
  countOf,
  type DeadLetter,
  type DlqAdapter,
  field,
  isoTime,
  messageOf,
} from './adapter.ts';

/** The variable the connection string is read from unless `--connection-string-env` names another. */
export const CONNECTION_STRING_ENV = 'AZURE_STORAGE_CONNECTION_STRING';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A Storage Queue text as the queue holds it, decoded: mailroute writes base64 (as the Functions host expects),
 * and the host moves a message to `<queue>-poison` as it was. A text that is not base64 (the host poisons those
 * too) is taken as it is.
 */
export function decodeQueueText(text: string): string {
  if (!text || !BASE64.test(text)) return text;
  const decoded = Buffer.from(text, 'base64');
  // Not UTF-8 after all: a text that only looked like base64.
  const utf8 = decoded.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(decoded) ? utf8 : text;
}

/** The failed queue's record (functions/azure/failed-queue.ts), or undefined for anything else (a poisoned body). */
function failedRecord(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const isRecord = ['body', 'reason', 'sourceMessageId'].every((k) => typeof parsed[k] === 'string');
    return isRecord ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An Azure Storage dead-letter queue: the failed queue (`MAILROUTE_FAILED_QUEUE`: base64 JSON records with the
 * original body, reason and error code) or a poison queue (`<queue>-poison`: the original text, no reason).
 * Replayed through the Storage Queue producer (client/azure.ts): base64, validated, 64 KiB checked. Without
 * `--to`, a poison queue replays to the queue it was poisoned from (the name without `-poison`).
 */
export function createAdapter(options: AdapterOptions): DlqAdapter {
  const variable = options.connectionStringEnv ?? CONNECTION_STRING_ENV;
  const connectionString = options.env[variable];
  if (!connectionString) {
    const message = `${variable} is not set: give the storage account's connection string there (or name another variable with --connection-string-env)`;
    throw new ConfigurationError(message, { issues: [{ path: variable, message: 'is not set' }] });
  }
  const to = options.to ?? (options.from.endsWith('-poison') ? options.from.slice(0, -'-poison'.length) : undefined);
  const clientOf = (name: string, setting: string) => {
    try {
      return new QueueClient(connectionString, name);
    } catch (error) {
      const message = `${variable} is not a usable connection string: ${(error as Error).message}`;
      throw new ConfigurationError(message, { issues: [{ path: setting, message }] });
    }
  };
  const dlq = clientOf(options.from, variable);
  let producer: StorageQueueProducer | undefined;
  const target = (operation: string) => ({
    operation,
    resource: `Azure Storage queue ${options.from}`,
    setting: '--from',
  });

  return {
    source: `azure:${options.from}`,
    ...(to ? { target: `azure:${to}` } : {}),
    maxBatch: 32,
    maxLeaseSeconds: 604_800,
    async receive(max, leaseSeconds) {
      try {
        const { receivedMessageItems } = await dlq.receiveMessages({
          numberOfMessages: Math.min(max, 32),
          visibilityTimeout: leaseSeconds,
        });
        return receivedMessageItems.map((m): DeadLetter => {
          const text = decodeQueueText(m.messageText);
          const record = failedRecord(text);
          const base = { id: m.messageId, handle: `${m.messageId} ${m.popReceipt}` };
          if (!record) {
            const firstSeen = isoTime(m.insertedOn);
            return { ...base, body: text, ...(firstSeen ? { firstSeen } : {}) };
          }
          const reason = field(record.reason as string);
          const errorCode = field(record.errorCode as string | undefined);
          const receiveCount = countOf(record.dequeueCount as number | undefined);
          const firstSeen = isoTime(record.failedAt as string | undefined) ?? isoTime(m.insertedOn);
          return {
            ...base,
            body: record.body as string,
            sourceMessageId: record.sourceMessageId as string,
            ...(reason ? { reason } : {}),
            ...(errorCode ? { errorCode } : {}),
            ...(receiveCount ? { receiveCount } : {}),
            ...(firstSeen ? { firstSeen } : {}),
          };
        });
      } catch (error) {
        throw translateStorageQueueError(error, target('ReceiveMessages'));
      }
    },
    async requeue(letter) {
      if (!to) throw new ConfigurationError('replay needs --to (the send queue name)');
      producer ??= createStorageQueueProducer({ queueClient: clientOf(to, '--to') });
      return (await producer.enqueue(messageOf(letter) as never)).messageId;
    },
    async remove(letter) {
      const [id, popReceipt] = letter.handle.split(' ') as [string, string];
      try {
        await dlq.deleteMessage(id, popReceipt);
      } catch (error) {
        throw translateStorageQueueError(error, target('DeleteMessage'));
      }
    },
    async release(letter) {
      const [id, popReceipt] = letter.handle.split(' ') as [string, string];
      try {
        await dlq.updateMessage(id, popReceipt, undefined, 0);
      } catch (error) {
        // The lease ran out and someone else holds it now, or it is gone: nothing to give back.
        if ((error as { statusCode?: number }).statusCode === 404) return;
        throw translateStorageQueueError(error, target('UpdateMessage'));
      }
    },
    async count() {
      try {
        return (await dlq.getProperties()).approximateMessagesCount;
      } catch {
        return undefined;
      }
    },
    async close() {},
  };
}
