import type { ProviderRegistry } from '../core/contract/provider-registry.ts';
// Descriptors only: each provider's adapters (and SDK) load when an entry uses them, never here.
import { builtInProviders } from '../providers/index.ts';

/**
 * The queue message that stands for a payload stored in S3 because it was over the queue's size limit:
 *
 * ```json
 * { "mailrouteS3Ref": { "bucket": "my-bucket", "key": "mailroute/3f2a...e9.json" } }
 * ```
 *
 * Its only property is `mailrouteS3Ref`, a field no message has (the message schema is strict), so a handler
 * tells it from a message unambiguously. The object holds the message JSON exactly as the producer serialized it
 * (UTF-8, `Content-Type: application/json`): the handler parses it as if it had been the record's body.
 * A reference is a claim, not a capability: the handler reads only its own payload bucket and prefix, in the
 * account it expects, and nothing over `MAX_S3_PAYLOAD_BYTES` (functions/aws/s3-payload.ts).
 * No SDK here, so a handler can import this without the S3 client.
 */
export interface S3PayloadReference {
  bucket: string;
  key: string;
}

export const S3_REFERENCE_FIELD = 'mailrouteS3Ref';

/** The key prefix of offloaded payloads when none is configured: producer and handler default to the same. */
export const DEFAULT_S3_PAYLOAD_PREFIX = 'mailroute/';

export function s3ReferenceBody(reference: S3PayloadReference): string {
  return JSON.stringify({ [S3_REFERENCE_FIELD]: { bucket: reference.bucket, key: reference.key } });
}

/** The reference in a parsed queue body, or undefined when the body is a message (or anything else). */
export function readS3Reference(parsed: unknown): S3PayloadReference | undefined {
  if (typeof parsed !== 'object' || parsed === null || !Object.hasOwn(parsed, S3_REFERENCE_FIELD)) return undefined;
  const ref = (parsed as Record<string, unknown>)[S3_REFERENCE_FIELD] as Record<string, unknown> | null;
  if (typeof ref?.bucket !== 'string' || typeof ref.key !== 'string' || !ref.bucket || !ref.key) return undefined;
  return { bucket: ref.bucket, key: ref.key };
}

/** An AWS account id, as `ExpectedBucketOwner` takes it: 12 digits. */
export const AWS_ACCOUNT_ID = /^\d{12}$/;

/** What is wrong with an expected bucket owner, or undefined (an option check, client/options.ts). */
export const isAwsAccountId = (value: unknown): string | undefined =>
  typeof value === 'string' && AWS_ACCOUNT_ID.test(value) ? undefined : 'must be an AWS account id (12 digits)';

/** The largest message any provider of a registry takes (its `maxEncodedBytes`, in any mode), and whose it is. */
export interface LargestMessage {
  bytes: number;
  provider: string;
  mode: string;
}

/** The largest `limits.maxEncodedBytes` among a registry's providers and modes (the built-in ones by default). */
export function largestMessage(registry: ProviderRegistry = builtInProviders): LargestMessage {
  let largest: LargestMessage = { bytes: 0, provider: '', mode: '' };
  for (const descriptor of registry.descriptors) {
    for (const [mode, described] of Object.entries(descriptor.modes)) {
      const bytes = described?.limits.maxEncodedBytes ?? 0;
      if (bytes > largest.bytes) largest = { bytes, provider: descriptor.id, mode };
    }
  }
  return largest;
}

/** Room for the fields of the message JSON that are not in the MIME (tags, metadata, provider options, route). */
const JSON_FIELDS_BYTES = 64 * 1024;

/**
 * The largest message JSON worth storing or reading: the largest message a provider takes, a third more, and
 * 64 KiB. The JSON holds attachments base64 as the MIME does, but it may be larger than the MIME: it escapes
 * quotes, backslashes and control characters that the MIME carries as one byte, and it has fields the MIME has
 * not. A third (base64's own overhead) covers that for any message a provider would take; an object over it
 * could not be sent by any provider, so it is refused before it is read (and before a producer stores it).
 */
export function maxS3PayloadBytes(largest: LargestMessage = largestMessage()): number {
  return Math.ceil((largest.bytes * 4) / 3) + JSON_FIELDS_BYTES;
}

/** The built-in providers' largest message, computed once (at load) from their descriptors. */
export const LARGEST_MESSAGE: LargestMessage = largestMessage();
/** `maxS3PayloadBytes()` of the built-in providers. */
export const MAX_S3_PAYLOAD_BYTES = maxS3PayloadBytes(LARGEST_MESSAGE);

/**
 * The bound for an error message: `69,970,603 bytes (the largest message any provider takes is ...)`, or just
 * the number when it is not the built-in providers' bound.
 */
export function describePayloadBound(maxBytes: number = MAX_S3_PAYLOAD_BYTES): string {
  const n = (value: number) => value.toLocaleString('en-US');
  if (maxBytes !== MAX_S3_PAYLOAD_BYTES) return `${n(maxBytes)} bytes`;
  const { bytes, provider, mode } = LARGEST_MESSAGE;
  return `${n(maxBytes)} bytes (the largest message any provider takes is ${n(bytes)} bytes encoded, ${provider} ${mode}; its message JSON may be a third larger)`;
}
