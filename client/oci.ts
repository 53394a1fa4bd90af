import type { AuthenticationDetailsProvider } from 'oci-common';
import { type models, QueueClient } from 'oci-queue';
import { ConfigurationError } from '../core/errors.ts';
import type { MessageInput } from '../core/message/message.ts';
import { translateOciQueueError } from './oci-errors.ts';
import { ociClientConfiguration } from './oci-sdk.ts';
import { checkOptions, isInteger, isObject, isString, isUrl } from './options.ts';
import { checkPayloadSize, preparePayload } from './payload.ts';

/**
 * The size of one OCI Queue message's content that this client allows by default: 256 KB (262,144 bytes), the
 * figure we were given but could not confirm in OCI's published limits (unverified). Set `maxMessageBytes` to
 * the queue's real limit; a queue that refuses a message as too large is reported the same way.
 */
export const OCI_QUEUE_DEFAULT_MAX_BYTES = 262_144;

export interface OciQueueProducerOptions {
  /** The queue's OCID. */
  queueId: string;
  /**
   * The queue's messages endpoint (`messages_endpoint` of the queue, such as
   * `https://cell-1.queue.messaging.eu-frankfurt-1.oci.oraclecloud.com`); required unless `client` is given.
   */
  endpoint?: string;
  /** Who signs the requests (an API key, instance or resource principal); required unless `client` is given. */
  authenticationDetailsProvider?: AuthenticationDetailsProvider;
  /** A QueueClient to use as it is (its endpoint already set). */
  client?: QueueClient;
  /** Default 262,144 bytes of UTF-8 content. */
  maxMessageBytes?: number;
}

export interface OciEnqueueResult {
  /** The queue's message id, as text (the SDK parses it as a number: ids over 2^53 lose their last digits). */
  messageId: string;
  expireAfter?: Date;
}

export interface OciQueueProducer {
  enqueue(message: MessageInput): Promise<OciEnqueueResult>;
}

/**
 * A QueueClient on a messages endpoint, with the SDK's retries and circuit breaker off. `signal` is handed to
 * every request the client makes (the SDK takes fetch options per client, not per call): aborting it cancels
 * them, so a client made for one call with the caller's deadline cannot outlive it.
 */
export function createOciQueueClient(
  endpoint: string,
  auth: AuthenticationDetailsProvider,
  options: { signal?: AbortSignal } = {},
): QueueClient {
  const configuration = ociClientConfiguration();
  if (options.signal) configuration.httpOptions = { signal: options.signal };
  const client = new QueueClient({ authenticationDetailsProvider: auth }, configuration);
  client.endpoint = endpoint.replace(/\/+$/, '');
  return client;
}

/**
 * Puts one message (content as given, optional metadata) with PutMessages; every failure is translated
 * (`translateOciQueueError`). Used by `enqueue` after validation, and by the OCI function for its failed queue.
 */
export async function putOciQueueMessage(
  client: QueueClient,
  queueId: string,
  entry: models.PutMessagesDetailsEntry,
  limit?: number,
): Promise<OciEnqueueResult> {
  try {
    const response = await client.putMessages({ queueId, putMessagesDetails: { messages: [entry] } });
    const put = response.putMessages.messages[0];
    // The SDK's type says Date; the value is the JSON's RFC 3339 text.
    return {
      messageId: String(put?.id ?? ''),
      ...(put?.expireAfter ? { expireAfter: new Date(put.expireAfter) } : {}),
    };
  } catch (error) {
    const bytes = Buffer.byteLength(entry.content, 'utf8');
    throw translateOciQueueError(error, { operation: 'PutMessages', queueId, bytes, ...(limit ? { limit } : {}) });
  }
}

/**
 * A producer for the OCI send queue: validates the message (nothing is put when it is invalid), checks its
 * size, and puts its JSON as the message content, which the OCI function's batch handler parses.
 *
 * @example
 * const producer = createOciQueueProducer({
 *   queueId: process.env.MAILROUTE_QUEUE_ID!,
 *   endpoint: process.env.MAILROUTE_QUEUE_ENDPOINT!,
 *   authenticationDetailsProvider: new ConfigFileAuthenticationDetailsProvider(),
 * });
 * await producer.enqueue({ from: 'app@example.com', to: 'ann@example.net', subject: 'Hi', text: 'Hello', idempotencyKey: 'welcome-42' });
 */
export function createOciQueueProducer(options: OciQueueProducerOptions): OciQueueProducer {
  checkOptions(
    options,
    'createOciQueueProducer',
    {
      queueId: isString,
      endpoint: isUrl,
      authenticationDetailsProvider: isObject,
      client: isObject,
      maxMessageBytes: isInteger(1024, 1_048_576),
    },
    ['queueId'],
  );
  const { queueId } = options;
  const limit = options.maxMessageBytes ?? OCI_QUEUE_DEFAULT_MAX_BYTES;
  const client = options.client ?? clientFrom(options);
  return {
    async enqueue(message) {
      const payload = preparePayload(message);
      checkPayloadSize(payload, limit, `OCI queue ${queueId}`, { provider: 'oci-queue' });
      return putOciQueueMessage(client, queueId, { content: payload.body }, limit);
    },
  };
}

function clientFrom(options: OciQueueProducerOptions): QueueClient {
  const missing = (['endpoint', 'authenticationDetailsProvider'] as const).filter((name) => !options[name]);
  if (missing.length > 0) {
    throw new ConfigurationError(`createOciQueueProducer: ${missing.join(' and ')} required unless client is given`, {
      issues: missing.map((name) => ({
        path: `createOciQueueProducer.${name}`,
        message: 'is required without client',
      })),
    });
  }
  return createOciQueueClient(options.endpoint!, options.authenticationDetailsProvider!);
}
