import type { S3Client } from '@aws-sdk/client-s3';
import {
  AWS_ACCOUNT_ID,
  DEFAULT_S3_PAYLOAD_PREFIX,
  describePayloadBound,
  MAX_S3_PAYLOAD_BYTES,
  readS3Reference,
  S3_REFERENCE_FIELD,
  type S3PayloadReference,
} from '../../client/s3-reference.ts';
import {
  ConfigurationError,
  isMailrouteError,
  MailrouteError,
  ProviderUnavailableError,
  TransientError,
} from '../../core/errors.ts';
import { callSignal, deadlinePassed } from '../../core/util/deadline.ts';
import type { AwsSdkError } from '../../providers/aws-sdk-errors.ts';

/**
 * A reference this function does not read: a bucket or prefix other than its own, a bucket another account owns
 * (or that it may not read), an object larger than any provider would send, one that is not UTF-8. It will be
 * refused every time: dead-lettered at once, with the reference as its body.
 */
export class PayloadRefusedError extends MailrouteError {
  readonly code = 'PAYLOAD_REFUSED';
  readonly retryable = false;
  readonly failover = false;
}

/** The object a reference names does not exist: S3 is strongly consistent, so it will not appear later. */
export class PayloadMissingError extends MailrouteError {
  readonly code = 'PAYLOAD_MISSING';
  readonly retryable = false;
  readonly failover = false;
}

/** Which references the function reads: its own bucket and prefix, in the account it expects, up to a size. */
export interface S3PayloadPolicy {
  /** The payload bucket (`MAILROUTE_PAYLOAD_BUCKET`). None: every reference is refused. */
  bucket?: string;
  /** Keys must start with it (`MAILROUTE_PAYLOAD_PREFIX`, default `mailroute/`, the producer's default too). */
  prefix: string;
  /** The account that must own the bucket (`MAILROUTE_PAYLOAD_BUCKET_OWNER`), sent as `ExpectedBucketOwner`. */
  expectedBucketOwner?: string;
  /** Larger objects are refused unread; default `MAX_S3_PAYLOAD_BYTES` (client/s3-reference.ts). */
  maxBytes: number;
}

/** The policy from the function's environment (serverless.yml sets it when the stack has a payload bucket). */
export function payloadPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): S3PayloadPolicy {
  const { MAILROUTE_PAYLOAD_BUCKET: bucket, MAILROUTE_PAYLOAD_BUCKET_OWNER: owner } = env;
  return {
    ...(bucket ? { bucket } : {}),
    prefix: env.MAILROUTE_PAYLOAD_PREFIX ?? DEFAULT_S3_PAYLOAD_PREFIX,
    ...(owner ? { expectedBucketOwner: owner } : {}),
    maxBytes: MAX_S3_PAYLOAD_BYTES,
  };
}

/** What bounds one resolution: the invocation's send deadline (epoch ms) and/or a signal. */
export interface ResolveCall {
  deadline?: number;
  signal?: AbortSignal;
}

type S3 = Pick<S3Client, 'send'>;
type S3Sdk = typeof import('@aws-sdk/client-s3');

/**
 * A record body that is an S3 reference (`{ "mailrouteS3Ref": { bucket, key } }`, written by the SQS producer for
 * a message over the queue's size limit) becomes the stored message text; any other body is returned as it is.
 *
 * The reference is checked before S3 is asked: the policy's bucket and prefix only. Then HeadObject, and an
 * object over `maxBytes` is refused without a byte of it read; then GetObject, its length checked again and its
 * body counted as it streams, so an object that grew (or a length that lies) is cut off at the bound. Both calls
 * carry `ExpectedBucketOwner` (S3 answers 403 for a bucket another account owns) and the call's signal, so a
 * slow S3 gives the record back to the queue before the invocation's deadline.
 *
 * Refused and missing objects are permanent (`PAYLOAD_REFUSED`, `PAYLOAD_MISSING`: dead-lettered with the
 * reference); S3 unreachable, failing or too slow for the deadline is retried. The S3 client is loaded on the first
 * reference only, so most containers never load it.
 */
export function s3PayloadResolver(
  policy: S3PayloadPolicy,
  client?: S3,
): (body: string, call?: ResolveCall) => Promise<string> {
  let loaded: Promise<{ sdk: S3Sdk; s3: S3 }> | undefined;
  const load = () =>
    (loaded ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, s3: client ?? new sdk.S3Client({}) })));
  return async (body, call = {}) => {
    if (!body.includes(`"${S3_REFERENCE_FIELD}"`)) return body;
    let reference: S3PayloadReference | undefined;
    try {
      reference = readS3Reference(JSON.parse(body));
    } catch {
      return body;
    }
    if (!reference) return body;
    const where = locationOf(reference);
    checkReference(reference, policy, where);
    if (deadlinePassed(call)) throw new TransientError(`no time left to read ${where} before the deadline`);
    const signal = callSignal(call);
    const { sdk, s3 } = await load();
    const input = {
      Bucket: reference.bucket,
      Key: reference.key,
      ...(policy.expectedBucketOwner ? { ExpectedBucketOwner: policy.expectedBucketOwner } : {}),
    };
    try {
      const head = await s3.send(new sdk.HeadObjectCommand(input), { abortSignal: signal });
      refuseOver(head.ContentLength, policy.maxBytes, where);
      const object = await s3.send(new sdk.GetObjectCommand(input), { abortSignal: signal });
      refuseOver(object.ContentLength, policy.maxBytes, where);
      return await readCapped(object.Body, policy.maxBytes, where, signal);
    } catch (error) {
      throw classify(error, where, policy, signal);
    }
  };
}

/**
 * `s3://bucket/key` for a reason or a log line. The reference is the sender's text: its control and non-character
 * code points are escaped (a reason goes into an SQS attribute, which refuses them, and then the record could not
 * be dead-lettered) and a long key is cut.
 */
function locationOf({ bucket, key }: S3PayloadReference): string {
  return `s3://${shown(bucket, 63)}/${shown(key, 256)}`;
}

function shown(text: string, max: number): string {
  let out = '';
  for (const c of text.slice(0, max)) {
    const code = c.codePointAt(0)!;
    const unsafe = code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0xd800 && code <= 0xdfff);
    out += unsafe || code === 0xfffe || code === 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return text.length > max ? `${out}…` : out;
}

/** Refuses a reference outside the policy before anything is asked of S3. */
function checkReference({ bucket, key }: S3PayloadReference, policy: S3PayloadPolicy, where: string): void {
  if (!policy.bucket) {
    throw new PayloadRefusedError(`${where} was not read: no payload bucket is set (MAILROUTE_PAYLOAD_BUCKET)`);
  }
  const owner = policy.expectedBucketOwner;
  if (owner !== undefined && !AWS_ACCOUNT_ID.test(owner)) {
    const message = `must be an AWS account id (12 digits), not "${owner}"`;
    throw new ConfigurationError(`MAILROUTE_PAYLOAD_BUCKET_OWNER ${message}`, {
      issues: [{ path: 'MAILROUTE_PAYLOAD_BUCKET_OWNER', message }],
    });
  }
  const allowed = `only s3://${policy.bucket}/${policy.prefix}* is read`;
  if (bucket !== policy.bucket) throw new PayloadRefusedError(`${where} is not in the payload bucket: ${allowed}`);
  if (!key.startsWith(policy.prefix)) {
    throw new PayloadRefusedError(`${where} is not under the payload prefix: ${allowed}`);
  }
  // S3 keys are literal, but a URL library on the way may resolve "..": never let one step out of the prefix.
  if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new PayloadRefusedError(`${where} has a "." or ".." segment: ${allowed}, literally`);
  }
}

function refuseOver(bytes: number | undefined, maxBytes: number, where: string): void {
  if (bytes !== undefined && bytes > maxBytes) {
    const size = bytes.toLocaleString('en-US');
    throw new PayloadRefusedError(`${where} is ${size} bytes, over ${describePayloadBound(maxBytes)}: not read`);
  }
}

/** The body as UTF-8 text, read chunk by chunk and given up past `maxBytes` or when the signal aborts. */
async function readCapped(body: unknown, maxBytes: number, where: string, signal?: AbortSignal): Promise<string> {
  if (!body) return '';
  const stream = body as AsyncIterable<Uint8Array> & { destroy?(error?: Error): void };
  const abort = () => stream.destroy?.(signal?.reason);
  signal?.addEventListener('abort', abort, { once: true });
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      bytes += chunk.byteLength;
      // Leaving the loop destroys the stream: nothing more is downloaded.
      if (bytes > maxBytes) refuseOver(bytes, maxBytes, `${where} (its length said less)`);
      chunks.push(chunk);
    }
  } finally {
    signal?.removeEventListener('abort', abort);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, bytes));
  } catch (error) {
    throw new PayloadRefusedError(`${where} is not UTF-8 text: not a message JSON`, { cause: error });
  }
}

/** S3's 403 codes for a request that may pass when made again: credentials about to be refreshed, a clock. */
const PASSING_403 = new Set(['ExpiredToken', 'RequestTimeTooSkewed', 'RequestExpired']);

/** Which S3 answers are permanent: the object is missing, or reading it is refused (the owner, IAM). */
function classify(error: unknown, where: string, policy: S3PayloadPolicy, signal?: AbortSignal): MailrouteError {
  if (isMailrouteError(error)) return error;
  if (signal?.aborted) {
    return new TransientError(`S3 did not return ${where} before the deadline`, { cause: signal.reason });
  }
  const { name = 'Error', message, $metadata } = (error ?? {}) as AwsSdkError;
  const status = $metadata?.httpStatusCode;
  const options = { cause: error, providerCode: name };
  if (status === 404 || name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'NotFound') {
    return new PayloadMissingError(`${where} does not exist (${name})`, options);
  }
  // HeadObject's 403 has no body, so no code: the SDK names it `Unknown` (or after the status), and
  // S3 gives no other clue (ExpectedBucketOwner, IAM and a missing object without s3:ListBucket look alike). A
  // 403 that says why, and why is a request that may pass (expired or skewed credentials), is retried.
  if (status === 403 && !PASSING_403.has(name)) {
    const code = /^(Unknown(Error)?|\d+)$/.test(name) ? `HTTP ${status}` : name;
    const owner = policy.expectedBucketOwner ? `the bucket is not owned by ${policy.expectedBucketOwner}, or ` : '';
    const why = `${owner}the function may not read it (without s3:ListBucket, a missing object is a 403 too)`;
    return new PayloadRefusedError(`S3 refused to read ${where} (${code}): ${why}`, options);
  }
  return new ProviderUnavailableError(`S3 did not return ${where} (${status ?? name}): ${message}`, options);
}
