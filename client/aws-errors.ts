// The same classes as the other producers' translators import, on purpose: every SDK maps onto one taxonomy.
import {
  AuthenticationError,
  ConfigurationError,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../core/errors.ts';
import { parseRetryAfter } from '../core/util/network.ts';
import { AWS_CREDENTIALS_REFUSED, type AwsSdkError } from '../providers/aws-sdk-errors.ts';

/** What an SQS, S3 or Lambda call was about, for the error's message and the setting to fix. */
export interface AwsTarget {
  service: 'SQS' | 'S3' | 'Lambda';
  operation: string;
  /** The queue URL, `s3://bucket/key` or function name: never a credential. */
  resource: string;
  /** The producer option that names the resource (`queueUrl`, `s3.bucket`, `functionName`). */
  setting: string;
  /** The payload's size, to report when the service says it is too large. */
  bytes?: number;
}

const THROTTLED = new Set([
  'RequestThrottled',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'SlowDown',
  'KmsThrottled',
  'EC2ThrottledException',
]);
const NOT_FOUND = new Set([
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'NoSuchBucket',
  'ResourceNotFoundException',
]);

/**
 * Translates an SDK error of a producer call into the project's taxonomy; the message names the service, the
 * operation and the resource (queue URL, bucket, function), never a credential.
 *
 * | answer | class |
 * | --- | --- |
 * | RequestThrottled, ThrottlingException, TooManyRequestsException, SlowDown, any 429 | ThrottledError |
 * | QueueDoesNotExist, NoSuchBucket, ResourceNotFoundException, any 404 | ConfigurationError (names the setting) |
 * | no credentials found, region missing (raised before a request) | ConfigurationError |
 * | credentials or access refused, 401/403 | AuthenticationError |
 * | "Message must be shorter than N bytes" (SQS), "Request must be smaller than N bytes" (Lambda 413) | MessageTooLargeError |
 * | InvalidMessageContents | InvalidMessageError |
 * | other 4xx (a FIFO parameter on a standard queue, ...) | ConfigurationError |
 * | 5xx, connection refused or dropped, timeout | ProviderUnavailableError (retryable) |
 */
export function translateAwsError(error: unknown, target: AwsTarget): MailrouteError {
  if (isMailrouteError(error)) return error;
  const e = (error ?? {}) as AwsSdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const reason = e.message || name;
  const what = `${target.service} ${target.operation} on ${target.resource}`;
  const options = { provider: target.service.toLowerCase(), cause: error, providerCode: name };
  const issue = (message: string) => [{ path: target.setting, message }];

  if (THROTTLED.has(name) || status === 429) {
    const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
    return new ThrottledError(`${what} was throttled (${name}): ${reason}`, {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (NOT_FOUND.has(name) || status === 404) {
    return new ConfigurationError(`${what} failed: it does not exist (${name}): ${reason}`, {
      ...options,
      issues: issue(`${target.resource} does not exist (or is in another region or account)`),
    });
  }
  if (AWS_CREDENTIALS_REFUSED.has(name) || status === 401 || status === 403) {
    return new AuthenticationError(`${what} was refused (${name}): ${reason}`, options);
  }
  // SQS: "Message must be shorter than 262144 bytes."; Lambda (413): "Request must be smaller than 6291456 bytes".
  const limit = /(?:shorter|smaller) than (\d+) bytes/.exec(reason)?.[1];
  if (limit && target.bytes !== undefined) {
    return new MessageTooLargeError(
      `the message JSON for ${target.resource}`,
      target.bytes,
      Number(limit),
      'bytes',
      options,
    );
  }
  if (name === 'InvalidMessageContents') {
    return new InvalidMessageError(
      [{ path: '', message: `${target.service} refused the characters: ${reason}` }],
      options,
    );
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new ConfigurationError(`${what} was refused (${name}): ${reason}`, {
      ...options,
      issues: issue(`${target.service} refused the request for ${target.resource}: ${reason}`),
    });
  }
  if (status === undefined && e.$fault !== 'server' && !isNetworkError(e)) {
    // Raised in the client before any request: no credentials, no region, an invalid endpoint.
    return new ConfigurationError(`${what} could not start (${name}): ${reason}`, {
      ...options,
      issues: [{ path: name === 'CredentialsProviderError' ? 'credentials' : target.setting, message: reason }],
    });
  }
  return new ProviderUnavailableError(`${what} failed (${status ?? e.code ?? name}): ${reason}`, options);
}

function isNetworkError(e: AwsSdkError): boolean {
  return /^E[A-Z_]+$/.test(e.code ?? '') || ['TimeoutError', 'AbortError', 'RequestTimeout'].includes(e.name ?? '');
}
