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
 * No SDK here, so a handler can import this without the S3 client.
 */
export interface S3PayloadReference {
  bucket: string;
  key: string;
}

export const S3_REFERENCE_FIELD = 'mailrouteS3Ref';

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
