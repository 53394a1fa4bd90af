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

/** What a Storage Queue call was about, for the error's message and the option to fix. */
export interface StorageQueueTarget {
  operation: string;
  /** The queue's name or URL without its query (a SAS lives there): never a credential. */
  resource: string;
  /** The producer option that names the queue (`queueName`, `queueUrl`). */
  setting: string;
  /** The encoded text's size, to report when the service says it is too large. */
  bytes?: number;
  /** The limit the producer checked against. */
  limit?: number;
}

/** The fields `RestError` (`@azure/core-rest-pipeline`) and `@azure/identity`'s errors carry. */
interface AzureSdkError {
  name?: string;
  code?: string;
  message?: string;
  statusCode?: number;
  response?: { headers?: { get?(name: string): string | undefined } };
}

const THROTTLED = new Set(['ServerBusy', 'TooManyRequests']);
const NOT_FOUND = new Set(['QueueNotFound', 'ResourceNotFound', 'QueueBeingDeleted']);
const REFUSED = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'KeyBasedAuthenticationNotPermitted',
]);
const TOO_LARGE = new Set(['RequestBodyTooLarge', 'MessageTooLarge']);
const NETWORK = /^(E[A-Z]+|REQUEST_SEND_ERROR|PARSE_ERROR)$/;

/**
 * Translates an Azure SDK error of a Storage Queue call into the project's taxonomy, as `translateAwsError` does
 * for SQS; the message names the operation and the queue, never a key or a SAS.
 *
 * | answer | class |
 * | --- | --- |
 * | 503 ServerBusy (Storage's throttle), any 429 | ThrottledError |
 * | QueueNotFound, any 404 | ConfigurationError (names the option) |
 * | AuthenticationFailed, AuthorizationPermissionMismatch (no data role), 401/403, identity refused | AuthenticationError |
 * | no credential available (`CredentialUnavailableError`) | ConfigurationError |
 * | RequestBodyTooLarge, MessageTooLarge, 413 | MessageTooLargeError |
 * | InvalidXmlDocument, InvalidXmlNodeValue (characters XML cannot carry) | InvalidMessageError |
 * | other 4xx | ConfigurationError |
 * | 5xx, connection refused or dropped, timeout | ProviderUnavailableError (retryable) |
 */
export function translateStorageQueueError(error: unknown, target: StorageQueueTarget): MailrouteError {
  if (isMailrouteError(error)) return error;
  const e = (error ?? {}) as AzureSdkError;
  const code = e.code ?? e.name ?? 'Error';
  const status = e.statusCode;
  const reason = firstLine(e.message) || code;
  const what = `Storage Queue ${target.operation} on ${target.resource}`;
  const options = { provider: 'storage-queue', cause: error, providerCode: code };
  const issue = (message: string) => [{ path: target.setting, message }];

  if (THROTTLED.has(code) || status === 429) {
    const retryAfterMs = parseRetryAfter(e.response?.headers?.get?.('retry-after'));
    return new ThrottledError(`${what} was throttled (${code}): ${reason}`, {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (NOT_FOUND.has(code) || status === 404) {
    return new ConfigurationError(`${what} failed: the queue does not exist (${code}): ${reason}`, {
      ...options,
      issues: issue(`${target.resource} does not exist (create it, or check the account)`),
    });
  }
  if (e.name === 'CredentialUnavailableError') {
    return new ConfigurationError(`${what} could not start: no credential is available: ${reason}`, {
      ...options,
      issues: [{ path: 'credential', message: reason }],
    });
  }
  if (REFUSED.has(code) || status === 401 || status === 403 || e.name === 'AuthenticationError') {
    return new AuthenticationError(
      `${what} was refused (${code}): ${reason}. An identity needs the Storage Queue Data Contributor (or Message Sender) role`,
      options,
    );
  }
  if ((TOO_LARGE.has(code) || status === 413) && target.bytes !== undefined) {
    const limit = target.limit ?? target.bytes;
    return new MessageTooLargeError(
      `the encoded message for ${target.resource}`,
      target.bytes,
      limit,
      'bytes',
      options,
    );
  }
  if (code === 'InvalidXmlDocument' || code === 'InvalidXmlNodeValue') {
    return new InvalidMessageError([{ path: '', message: `Storage Queue refused the text: ${reason}` }], options);
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new ConfigurationError(`${what} was refused (${code}): ${reason}`, {
      ...options,
      issues: issue(`Storage Queue refused the request for ${target.resource}: ${reason}`),
    });
  }
  if (status === undefined && !NETWORK.test(code) && !['AbortError', 'TimeoutError'].includes(e.name ?? '')) {
    // Raised in the client before any request: a malformed connection string or URL.
    return new ConfigurationError(`${what} could not start (${code}): ${reason}`, {
      ...options,
      issues: issue(reason),
    });
  }
  return new ProviderUnavailableError(`${what} failed (${status ?? code}): ${reason}`, options);
}

/** Storage puts its request id and time on further lines of the message: noise in an error. */
const firstLine = (text: string | undefined) => (text ?? '').split('\n')[0]!.trim();
