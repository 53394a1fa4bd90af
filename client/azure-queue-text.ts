import type { QueueClient } from '@azure/storage-queue';
import { MessageTooLargeError } from '../core/errors.ts';
import { translateStorageQueueError } from './azure-queue-errors.ts';

/** Azure Storage Queue's limit on one message's text, as stored (after any base64 encoding). */
export const STORAGE_QUEUE_MAX_BYTES = 65_536;

/**
 * How the text is stored. The Functions host decodes base64 by default (`extensions.queues.messageEncoding` in
 * host.json): a message written as plain text would be moved to `<queue>-poison` without the function running.
 */
export type QueueMessageEncoding = 'base64' | 'none';

export interface QueueTextOptions {
  encoding?: QueueMessageEncoding;
  /** Default 65,536: the service's own limit. */
  maxBytes?: number;
  /** Seconds before the message becomes visible (0 to 7 days). */
  visibilityDelaySeconds?: number;
  /** Seconds the queue keeps the message; -1 keeps it until it is read and deleted. Default: the service's 7 days. */
  timeToLiveSeconds?: number;
  /** The producer option that names the queue, for error issues. */
  setting?: string;
  /** Cancels the request and the SDK's retries (a caller's deadline); the error is then a retryable one. */
  abortSignal?: AbortSignal;
}

export interface SentQueueText {
  messageId: string;
  /** Bytes as stored, after encoding. */
  bytes: number;
  insertedOn?: Date;
  expiresOn?: Date;
}

/** The text as the queue stores it, and its size in bytes. */
export function encodeQueueText(text: string, encoding: QueueMessageEncoding = 'base64') {
  const stored = encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
  return { stored, bytes: Buffer.byteLength(stored, 'utf8') };
}

/**
 * Encodes a text, checks it against the limit *after* encoding (base64 grows it by a third, so about 48 KiB of
 * JSON fits), sends it and translates any SDK error. Throws `MessageTooLargeError` naming the limit before
 * anything is sent.
 */
export async function sendQueueText(
  client: QueueClient,
  text: string,
  options: QueueTextOptions = {},
): Promise<SentQueueText> {
  const encoding = options.encoding ?? 'base64';
  const { stored, bytes } = encodeQueueText(text, encoding);
  const limit = options.maxBytes ?? STORAGE_QUEUE_MAX_BYTES;
  const resource = `Azure Storage queue ${client.name}`;
  if (bytes > limit) {
    const field = `the message JSON for ${resource}${encoding === 'base64' ? ', base64-encoded,' : ''}`;
    throw new MessageTooLargeError(field, bytes, limit, 'bytes', { provider: 'storage-queue' });
  }
  try {
    const sent = await client.sendMessage(stored, {
      ...(options.visibilityDelaySeconds === undefined ? {} : { visibilityTimeout: options.visibilityDelaySeconds }),
      ...(options.timeToLiveSeconds === undefined ? {} : { messageTimeToLive: options.timeToLiveSeconds }),
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    });
    return { messageId: sent.messageId, bytes, insertedOn: sent.insertedOn, expiresOn: sent.expiresOn };
  } catch (error) {
    const target = { operation: 'SendMessage', resource, setting: options.setting ?? 'queueName' };
    throw translateStorageQueueError(error, { ...target, bytes, limit });
  }
}
