import type { GoogleAuth } from 'google-auth-library';
import { ConfigurationError, MessageTooLargeError } from '../core/errors.ts';
import type { MessageInput, NormalizedMessage } from '../core/message/message.ts';
import { type AccessTokenSource, createPubSubPublisher, topicPath } from './gcp-pubsub.ts';
import { checkOptions, isFunction, isInteger, isObject, isString, isUrl } from './options.ts';
import { preparePayload } from './payload.ts';

export { type PubSubFailure, type PubSubTarget, translatePubSubFailure } from './gcp-errors.ts';
export {
  type AccessTokenSource,
  createPubSubPublisher,
  type OutgoingPubSubMessage,
  PUBSUB_API_ROOT,
  PUBSUB_SCOPE,
  type PubSubPublisher,
  type PubSubPublisherOptions,
  parseTopicPath,
  topicPath,
} from './gcp-pubsub.ts';

/** Pub/Sub's limit on a publish request (data, attributes and ordering key): 10 MB, as its client libraries count it. */
export const PUBSUB_MAX_MESSAGE_BYTES = 10_000_000;
const ORDERING_KEY_MAX_BYTES = 1024;

export type OrderingKeyOf = (message: NormalizedMessage) => string;

export interface PubSubProducerOptions {
  /** The topic's project id. */
  project: string;
  /** The topic id (`mailroute-send`), not its full name. */
  topic: string;
  /** Default `https://pubsub.googleapis.com`; a regional endpoint, or the emulator's URL in tests. */
  apiRoot?: string;
  /** Default: a `GoogleAuth` with the Pub/Sub scope (application default credentials). */
  auth?: GoogleAuth | AccessTokenSource;
  /**
   * The ordering key of a message, from its validated form; default none. Pub/Sub delivers one key's messages
   * in order only to a subscription with message ordering enabled (not Eventarc's; see client/gcp-pubsub.md).
   */
  orderingKey?: OrderingKeyOf;
  /** Default and maximum 10,000,000 bytes; counts the message JSON, its attributes and its ordering key. */
  maxMessageBytes?: number;
  /** Per publish call; default 10,000 ms. */
  timeoutMs?: number;
}

export interface PubSubEnqueueResult {
  messageId: string;
  orderingKey?: string;
}

export interface PubSubProducer {
  /** `projects/{project}/topics/{topic}`. */
  readonly topic: string;
  enqueue(message: MessageInput): Promise<PubSubEnqueueResult>;
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * A producer for the send topic: validates the message (nothing is published when it is invalid), publishes its
 * JSON as the message data with the `idempotencyKey` attribute when the message has one, over Pub/Sub's REST
 * API. Errors are the project's own (client/gcp-errors.ts). See client/gcp-pubsub.md.
 *
 * @example
 * const producer = createPubSubProducer({ project: 'my-project', topic: 'mailroute-send' });
 * await producer.enqueue({ from: 'app@example.com', to: 'ann@example.net', subject: 'Hi', text: 'Hello', idempotencyKey: 'welcome-42' });
 */
export function createPubSubProducer(options: PubSubProducerOptions): PubSubProducer {
  checkOptions(
    options,
    'createPubSubProducer',
    {
      project: isString,
      topic: isString,
      apiRoot: isUrl,
      auth: isObject,
      orderingKey: isFunction,
      maxMessageBytes: isInteger(1, PUBSUB_MAX_MESSAGE_BYTES),
      timeoutMs: isInteger(1, 600_000),
    },
    ['project', 'topic'],
  );
  const topic = topicPath(options.project, options.topic, 'createPubSubProducer.topic');
  const limit = options.maxMessageBytes ?? PUBSUB_MAX_MESSAGE_BYTES;
  const publisher = createPubSubPublisher({
    topic,
    ...(options.apiRoot ? { apiRoot: options.apiRoot } : {}),
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });

  return {
    topic,
    async enqueue(message) {
      const payload = preparePayload(message);
      const key = payload.message.idempotencyKey;
      const attributes: Record<string, string> = key ? { idempotencyKey: key } : {};
      const orderingKey = options.orderingKey ? orderingKeyOf(options.orderingKey, payload.message) : undefined;
      const size = payload.bytes + (key ? bytes('idempotencyKey') + bytes(key) : 0) + bytes(orderingKey ?? '');
      if (size > limit) {
        const field = `the message (JSON data, attributes, ordering key) for Pub/Sub topic ${topic}`;
        throw new MessageTooLargeError(field, size, limit, 'bytes', { provider: 'pubsub' });
      }
      const data = Buffer.from(payload.body, 'utf8');
      const messageId = await publisher.publish({ data, attributes, ...(orderingKey ? { orderingKey } : {}) }, size);
      return { messageId, ...(orderingKey ? { orderingKey } : {}) };
    },
  };
}

function orderingKeyOf(of: OrderingKeyOf, message: NormalizedMessage): string {
  const key: unknown = of(message);
  if (typeof key === 'string' && key.length > 0 && bytes(key) <= ORDERING_KEY_MAX_BYTES) return key;
  const path = 'createPubSubProducer.orderingKey';
  const problem = `returned ${JSON.stringify(key) ?? String(key)}, not a non-empty string of at most 1024 bytes`;
  throw new ConfigurationError(`${path} ${problem}`, { issues: [{ path, message: problem }] });
}
