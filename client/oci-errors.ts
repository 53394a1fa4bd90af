// The same classes as the other producers' translators import, on purpose: every SDK maps onto one taxonomy.
import {
  AuthenticationError,
  ConfigurationError,
  isMailrouteError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../core/errors.ts';
import { ociFailureOf } from './oci-sdk.ts';

/** What an OCI Queue call was about, for the error's message and the option to fix. */
export interface OciQueueTarget {
  operation: string;
  queueId: string;
  /** The payload's size and the configured limit, to report when the service says it is too large. */
  bytes?: number;
  limit?: number;
}

/** OCI answers 404 both for a queue that does not exist and for one the caller may not see. */
const NOT_FOUND = new Set(['NotAuthorizedOrNotFound', 'NotFound']);
const REFUSED = new Set(['NotAuthenticated', 'NotAuthorized', 'SignUpRequired']);

/**
 * Translates what the oci-queue SDK rejected with into the project's taxonomy; the message names the operation
 * and the queue OCID, never a credential.
 *
 * | answer | class |
 * | --- | --- |
 * | 429 (TooManyRequests) | ThrottledError |
 * | 401, 403, NotAuthenticated, NotAuthorized | AuthenticationError |
 * | 404 NotAuthorizedOrNotFound | ConfigurationError on `queueId` (no such queue, or a policy missing) |
 * | 413, or 400 that says the message is too large | MessageTooLargeError |
 * | other 4xx | ConfigurationError on `queueId` |
 * | 5xx, no answer (refused, dropped, timeout) | ProviderUnavailableError (retryable) |
 */
export function translateOciQueueError(error: unknown, target: OciQueueTarget): MailrouteError {
  if (isMailrouteError(error)) return error;
  const f = ociFailureOf(error);
  const status = typeof f.statusCode === 'number' && f.statusCode > 0 ? f.statusCode : undefined;
  const code = f.serviceCode && f.serviceCode !== 'None' ? f.serviceCode : undefined;
  const requestId = f.opcRequestId ? ` (opc-request-id ${f.opcRequestId})` : '';
  const what = `OCI Queue ${target.operation} on ${target.queueId}`;
  const reason = `${status ?? 'no answer'}${code ? ` ${code}` : ''}: ${f.message ?? 'failed'}${requestId}`;
  const options = { provider: 'oci-queue', cause: error, providerCode: code ?? status };
  const issue = (message: string) => [{ path: 'queueId', message }];

  if (status === 429) return new ThrottledError(`${what} was throttled (${reason})`, options);
  if (status === 401 || status === 403 || (code && REFUSED.has(code))) {
    return new AuthenticationError(`${what} was refused (${reason})`, options);
  }
  if (status === 404 || (code && NOT_FOUND.has(code))) {
    return new ConfigurationError(
      `${what} failed: no such queue, or no policy lets this principal use it (${reason})`,
      {
        ...options,
        issues: issue(`${target.queueId} does not exist here, or a policy such as "use queue-push" is missing`),
      },
    );
  }
  const tooLarge = status === 413 || (status === 400 && /too large|exceeds|size/i.test(f.message ?? ''));
  if (tooLarge && target.bytes !== undefined) {
    const limit = Number(/(\d{4,})/.exec(f.message ?? '')?.[1] ?? target.limit ?? 0);
    return new MessageTooLargeError(
      `the message JSON for OCI queue ${target.queueId}`,
      target.bytes,
      limit,
      'bytes',
      options,
    );
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new ConfigurationError(`${what} was refused (${reason})`, { ...options, issues: issue(reason) });
  }
  return new ProviderUnavailableError(`${what} failed (${reason})`, options);
}
