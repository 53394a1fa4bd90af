import type { TokenCredential } from '@azure/identity';
import { type AnonymousCredential, QueueClient, type StorageSharedKeyCredential } from '@azure/storage-queue';
import { ConfigurationError } from '../core/errors.ts';
import type { MessageInput } from '../core/message/message.ts';
import {
  type QueueMessageEncoding,
  type SentQueueText,
  STORAGE_QUEUE_MAX_BYTES,
  sendQueueText,
} from './azure-queue-text.ts';
import { type Check, checkOptions, displayUrl, isInteger, isObject, isString, isUrl } from './options.ts';
import { preparePayload } from './payload.ts';

export { type StorageQueueTarget, translateStorageQueueError } from './azure-queue-errors.ts';
export { encodeQueueText, type QueueMessageEncoding, STORAGE_QUEUE_MAX_BYTES } from './azure-queue-text.ts';

export interface StorageQueueProducerOptions {
  /** The queue's name; required with `connectionString`, else taken from `queueUrl` or `queueClient`. */
  queueName?: string;
  /** An account connection string (keys, SAS, or Azurite's); give this, `queueUrl`, or `queueClient`. */
  connectionString?: string;
  /** `https://<account>.queue.core.windows.net/<queue>` (a SAS query works without a credential). */
  queueUrl?: string;
  /** With `queueUrl`: e.g. `new DefaultAzureCredential()`; the identity needs Storage Queue Data Message Sender. */
  credential?: TokenCredential | StorageSharedKeyCredential | AnonymousCredential;
  /** A client to use (tests, custom retries). */
  queueClient?: QueueClient;
  /** Default and maximum 65,536: the Storage Queue limit, counted on the text as stored (after base64). */
  maxMessageBytes?: number;
  /** Must match host.json's `extensions.queues.messageEncoding`; default `base64`, the host's default. */
  messageEncoding?: QueueMessageEncoding;
  /** Seconds the queue keeps a message; -1 for ever; default the service's 7 days. */
  timeToLiveSeconds?: number;
}

export interface StorageQueueEnqueueOptions {
  /** Seconds before the function may see it (0 to 604,800). */
  visibilityDelaySeconds?: number;
  timeToLiveSeconds?: number;
}

export interface StorageQueueProducer {
  readonly queueName: string;
  enqueue(message: MessageInput, options?: StorageQueueEnqueueOptions): Promise<SentQueueText>;
}

const isEncoding: Check = (v) => (v === 'base64' || v === 'none' ? undefined : 'must be "base64" or "none"');
const isTtl: Check = (v) =>
  v === -1 || (Number.isInteger(v) && (v as number) > 0)
    ? undefined
    : 'must be -1 (until read) or a positive whole number';

/**
 * A producer for the mailroute send queue on Azure Storage: validates the message (nothing is enqueued when it
 * is invalid), writes its JSON base64-encoded as the Functions host expects, and refuses a message whose
 * encoded text is over the limit. The queue message id is the idempotency key when the message has none.
 *
 * @example
 * const producer = createStorageQueueProducer({ queueUrl: 'https://acct.queue.core.windows.net/mailroute-send', credential: new DefaultAzureCredential() });
 * await producer.enqueue({ from: 'app@example.com', to: 'ann@example.net', subject: 'Hi', text: 'Hello', idempotencyKey: 'welcome-42' });
 */
export function createStorageQueueProducer(options: StorageQueueProducerOptions): StorageQueueProducer {
  const where = 'createStorageQueueProducer';
  checkOptions(options, where, {
    queueName: isString,
    connectionString: isString,
    queueUrl: isUrl,
    credential: isObject,
    queueClient: isObject,
    maxMessageBytes: isInteger(1, STORAGE_QUEUE_MAX_BYTES),
    messageEncoding: isEncoding,
    timeToLiveSeconds: isTtl,
  });
  const sources = (['connectionString', 'queueUrl', 'queueClient'] as const).filter((k) => options[k] !== undefined);
  if (sources.length !== 1) refuse(where, 'give exactly one of connectionString, queueUrl or queueClient');
  if (options.credential && !options.queueUrl) refuse(`${where}.credential`, 'goes with queueUrl');
  const client = options.queueClient ?? clientFrom(options);
  if (options.queueName !== undefined && options.queueName !== client.name) {
    refuse(`${where}.queueName`, `"${options.queueName}" is not the queue of ${displayUrl(client.url)}`);
  }
  const setting = options.queueUrl ? 'queueUrl' : 'queueName';
  return {
    queueName: client.name,
    async enqueue(message, enqueueOptions = {}) {
      checkOptions(enqueueOptions, 'enqueue', {
        visibilityDelaySeconds: isInteger(0, 604_800),
        timeToLiveSeconds: isTtl,
      });
      const payload = preparePayload(message);
      const ttl = enqueueOptions.timeToLiveSeconds ?? options.timeToLiveSeconds;
      return sendQueueText(client, payload.body, {
        setting,
        ...(options.messageEncoding ? { encoding: options.messageEncoding } : {}),
        ...(options.maxMessageBytes ? { maxBytes: options.maxMessageBytes } : {}),
        ...(enqueueOptions.visibilityDelaySeconds === undefined
          ? {}
          : { visibilityDelaySeconds: enqueueOptions.visibilityDelaySeconds }),
        ...(ttl === undefined ? {} : { timeToLiveSeconds: ttl }),
      });
    },
  };
}

function clientFrom(options: StorageQueueProducerOptions): QueueClient {
  try {
    if (options.connectionString) {
      if (!options.queueName) refuse('createStorageQueueProducer.queueName', 'is required with connectionString');
      return new QueueClient(options.connectionString, options.queueName);
    }
    return new QueueClient(options.queueUrl!, options.credential);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    // The SDK throws on a connection string it cannot parse; its message never holds the key.
    const path = options.connectionString ? 'connectionString' : 'queueUrl';
    refuse(`createStorageQueueProducer.${path}`, (error as Error).message);
  }
}

function refuse(path: string, message: string): never {
  throw new ConfigurationError(`${path}: ${message}`, { issues: [{ path, message }] });
}
