import { readS3Reference } from '../../client/s3-reference.ts';
import { ConfigurationError, ProviderUnavailableError } from '../../core/errors.ts';

type GetObject = (bucket: string, key: string) => Promise<string>;

let fetchObject: GetObject | undefined;

/** S3 GetObject as text; the S3 client is loaded on the first reference only, so most containers never load it. */
async function defaultGetObject(bucket: string, key: string): Promise<string> {
  const { GetObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({});
  fetchObject = async (b, k) => {
    const object = await client.send(new GetObjectCommand({ Bucket: b, Key: k }));
    return (await object.Body?.transformToString('utf-8')) ?? '';
  };
  return fetchObject(bucket, key);
}

/**
 * A record body that is an S3 reference (`{ "mailrouteS3Ref": { bucket, key } }`, written by the SQS producer for
 * a message over the queue's size limit) becomes the stored message text; any other body is returned as it is.
 * A missing object is permanent (dead-lettered with the reference); S3 being unreachable is retried.
 */
export function s3PayloadResolver(getObject?: GetObject): (body: string) => Promise<string> {
  return async (body) => {
    if (!body.includes('"mailrouteS3Ref"')) return body;
    let reference: ReturnType<typeof readS3Reference>;
    try {
      reference = readS3Reference(JSON.parse(body));
    } catch {
      return body;
    }
    if (!reference) return body;
    try {
      return await (getObject ?? fetchObject ?? defaultGetObject)(reference.bucket, reference.key);
    } catch (error) {
      const name = (error as { name?: string }).name;
      const where = `s3://${reference.bucket}/${reference.key}`;
      if (name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'AccessDenied') {
        throw new ConfigurationError(`the message payload ${where} cannot be read (${name})`, { cause: error });
      }
      throw new ProviderUnavailableError(`S3 did not return ${where}: ${(error as Error).message}`, { cause: error });
    }
  };
}
