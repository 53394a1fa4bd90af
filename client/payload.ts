import { createHash } from 'node:crypto';
import { type ErrorOrigin, InvalidMessageError, MessageTooLargeError } from '../core/errors.ts';
import type { NormalizedMessage } from '../core/message/message.ts';
import { validateMessage } from '../core/message/validate.ts';
// Descriptors only: each provider's adapters (and SDK) load when an entry uses them, never here.
import { builtInProviders } from '../providers/index.ts';

/**
 * The cloud-neutral half of every producer client (SQS and Lambda here; Azure, Google and OCI later): validate
 * the message, serialize it, measure it, and derive the ids a queue deduplicates and orders by.
 */
export interface Payload {
  /** The message JSON as the producer wrote it (not the normalized form): what the queue handler parses. */
  body: string;
  /** UTF-8 bytes of `body`: what every queue and invoke limit counts. */
  bytes: number;
  /** SHA-256 of `body`, hex. */
  sha256: string;
  /** The validated message: for ids and routing decisions only, never sent. */
  message: NormalizedMessage;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Validates and serializes a message; throws `InvalidMessageError` listing every problem (each with its path).
 * What is validated is the JSON after a round trip, so the handler parses exactly what passed here.
 *
 * @example const { body, bytes } = preparePayload({ from: 'a@example.com', to: 'b@example.net', subject: 'Hi', text: 'Hello' });
 */
export function preparePayload(input: unknown): Payload {
  let json: string | undefined;
  try {
    json = JSON.stringify(input);
  } catch (error) {
    throw new InvalidMessageError([
      { path: '', message: `cannot be serialized as JSON (${(error as Error).message})` },
    ]);
  }
  // providerOptions too: a producer learns of a misspelt option now, not from the dead-letter queue.
  const result = validateMessage(json === undefined ? input : JSON.parse(json), builtInProviders);
  if (!result.ok) throw new InvalidMessageError(result.issues);
  // U+FFFE and U+FFFF are valid JSON but not valid XML characters, which SQS and Azure Storage queues refuse;
  // the escape parses back to the same string.
  const body = json!.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
  return { body, bytes: Buffer.byteLength(body, 'utf8'), sha256: sha256(body), message: result.message };
}

/** Throws `MessageTooLargeError` naming the target, its limit and the payload's size. */
export function checkPayloadSize(payload: Payload, limit: number, target: string, origin: ErrorOrigin): void {
  if (payload.bytes > limit) {
    throw new MessageTooLargeError(`the message JSON for ${target}`, payload.bytes, limit, 'bytes', origin);
  }
}

/**
 * The deduplication id of a message: `key:` + SHA-256 (hex) of its `idempotencyKey`, or, without a key,
 * `body:` + SHA-256 of the payload (what SQS's content-based deduplication does). 68 characters of
 * `[a-z0-9:]`, so it fits every queue's id limit (SQS 128, Service Bus 128). A producer in another language
 * derives the same id from the same key, so their retries deduplicate against ours.
 */
export function deduplicationIdOf(payload: Payload): string {
  const key = payload.message.idempotencyKey;
  return key === undefined ? `body:${payload.sha256}` : `key:${sha256(key)}`;
}

/**
 * The default ordering group: the sender's address, lower-cased (domain in punycode). Every message has exactly one
 * sender, the sender's domain picks the route and its provider quota, and the messages whose order a reader
 * notices (a reset then its confirmation) come from one sender; so one sender's messages stay in order and a
 * sender whose provider throttles holds back only its own group, not the whole queue.
 */
export function senderGroupOf(payload: Payload): string {
  return payload.message.from.address.toLowerCase();
}

/**
 * Fits an id to a queue's rule (`maxLength` characters of printable ASCII without space, the SQS and Service Bus
 * charset): kept as is when it fits, else `sha256:` + its hex digest, so equal inputs still give equal ids.
 */
export function fitId(value: string, maxLength = 128): string {
  return value.length <= maxLength && /^[\x21-\x7e]+$/.test(value) ? value : `sha256:${sha256(value)}`;
}
