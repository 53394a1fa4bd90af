import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { translateAwsError } from './aws-errors.ts';
import type { Payload } from './payload.ts';
import type { S3PayloadReference } from './s3-reference.ts';

export interface S3OffloadOptions {
  bucket: string;
  /** Key prefix (default `mailroute/`): give it a lifecycle rule that expires objects, see the README. */
  prefix?: string;
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
 */
export function createS3PayloadStore(options: S3OffloadOptions, region: string | undefined) {
  const client = options.client ?? new S3Client(region ? { region } : {});
  const prefix = options.prefix ?? 'mailroute/';
  return {
    async put(payload: Payload): Promise<S3PayloadReference> {
      const key = `${prefix}${payload.sha256}.json`;
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: options.bucket,
            Key: key,
            Body: payload.body,
            ContentType: 'application/json',
          }),
        );
      } catch (error) {
        throw translateAwsError(error, {
          service: 'S3',
          operation: 'PutObject',
          resource: `s3://${options.bucket}/${key}`,
          setting: 's3.bucket',
        });
      }
      return { bucket: options.bucket, key };
    },
  };
}
