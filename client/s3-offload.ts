import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { MessageTooLargeError } from '../core/errors.ts';
import { translateAwsError } from './aws-errors.ts';
import type { Payload } from './payload.ts';
import { DEFAULT_S3_PAYLOAD_PREFIX, MAX_S3_PAYLOAD_BYTES, type S3PayloadReference } from './s3-reference.ts';

export interface S3OffloadOptions {
  bucket: string;
  /** Key prefix (default `mailroute/`): give it a lifecycle rule that expires objects, see the README. */
  prefix?: string;
  /**
   * The account id (12 digits) that must own the bucket, sent as `ExpectedBucketOwner`: S3 refuses the write
   * (403) when the bucket is someone else's, so a mistyped or re-created bucket name never receives a message.
   * Set it; the queue handler checks the same on its reads (`MAILROUTE_PAYLOAD_BUCKET_OWNER`).
   */
  expectedBucketOwner?: string;
  client?: S3Client;
}

/**
 * Stores payloads too large for the queue. Loaded only when a producer has `s3` configured and a payload is over
 * the limit, so a bundle that never offloads does not load the S3 client.
 *
 * The key is content-addressed (`<prefix><sha256 of the payload>.json`): enqueuing the same payload again (a retry)
 * rewrites the same object instead of leaving an orphan, and two queue messages with equal payloads share an
 * object whose content is the same either way. So a handler must never delete the object after sending: expire
 * it with a lifecycle rule longer than the queue's and the dead-letter queue's retention.
 *
 * A payload over `MAX_S3_PAYLOAD_BYTES` (client/s3-reference.ts: more than any provider would send, and what the
 * queue handler refuses unread) is refused here, before anything is stored or enqueued.
 */
export function createS3PayloadStore(options: S3OffloadOptions, region: string | undefined) {
  const client = options.client ?? new S3Client(region ? { region } : {});
  const prefix = options.prefix ?? DEFAULT_S3_PAYLOAD_PREFIX;
  const owner = options.expectedBucketOwner;
  return {
    async put(payload: Payload): Promise<S3PayloadReference> {
      const key = `${prefix}${payload.sha256}.json`;
      const resource = `s3://${options.bucket}/${key}`;
      if (payload.bytes > MAX_S3_PAYLOAD_BYTES) {
        const what = `the message JSON for ${resource}`;
        throw new MessageTooLargeError(what, payload.bytes, MAX_S3_PAYLOAD_BYTES, 'bytes', { provider: 's3' });
      }
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: options.bucket,
            Key: key,
            Body: payload.body,
            ContentType: 'application/json',
            ...(owner ? { ExpectedBucketOwner: owner } : {}),
          }),
        );
      } catch (error) {
        throw translateAwsError(error, {
          service: 'S3',
          operation: 'PutObject',
          // A 403 may then mean the bucket is not the expected account's: say which account was expected.
          resource: owner ? `${resource} (expected owner ${owner})` : resource,
          setting: 's3.bucket',
        });
      }
      return { bucket: options.bucket, key };
    },
  };
}
