import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  type ErrorOrigin,
  IdempotencyConflictError,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { NEVER_CONNECTED_CODES, parseRetryAfter } from '../../core/util/network.ts';
import type { ConnectWatch } from '../http/connect-watch.ts';
import { unsentFailure } from '../http/unsent.ts';

/** What `@azure/core-rest-pipeline`'s RestError (and the identity errors) carry. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  statusCode?: number;
  response?: {
    headers?: { get(name: string): string | undefined };
    parsedBody?: { error?: { code?: string; message?: string; target?: string } };
  };
}

/** The send being translated: its Operation-Id, and whether that id is derived from an idempotency key. */
export interface AcsSendFacts {
  operationId: string;
  keyed: boolean;
  /** Present when the request was repeatable (it carried the Repeatability-* headers of this key). */
  idempotencyKey?: string;
  /** The composed size and the adapter's limit, for a 413. */
  size: number;
  maxBytes: number;
}

const IDENTITY_ERRORS = new Set(['AuthenticationError', 'CredentialUnavailableError', 'AuthenticationRequiredError']);

/**
 * Translates an error of `EmailClient.beginSend` (the POST `emails:send`) into the project's taxonomy.
 *
 * | ACS answer | class |
 * | --- | --- |
 * | 401, 403, an Entra token that could not be had | AuthenticationError |
 * | 429 (Retry-After → `retryAfterMs`) | ThrottledError |
 * | 400 UnsupportedApiVersion / MissingApiVersionParameter, 404 (wrong endpoint) | ConfigurationError |
 * | 400 whose code names spam, malware or content | ContentRejectedError |
 * | 400 otherwise (the body's `target` as the field) and other 4xx | InvalidMessageError |
 * | 409 to a repeatable request (the first request with its id is still being processed) | AmbiguousDeliveryError |
 * | 412 to a repeatable request (its first-sent is older than the 5 minutes ACS tracks) | AmbiguousDeliveryError |
 * | 400 `Repeatability-Result: rejected` (the id was used for another body) | IdempotencyConflictError |
 * | 413 | MessageTooLargeError |
 * | 408, 5xx | TransientError |
 * | no connection within `connectTimeoutMs` (DNS, TCP, TLS) | ProviderUnavailableError |
 * | no connection at all otherwise (refused, DNS, unreachable, the deadline while connecting) | TransientError |
 * | raised in the client before sending (no status, no socket error code) | ConfigurationError |
 * | dropped or timed out once connected | AmbiguousDeliveryError |
 *
 * A request that reached the service and got no answer may have been accepted. With an idempotency key the
 * request is repeatable (https://learn.microsoft.com/en-us/rest/api/communication/repeatable-requests): sending it
 * again within 5 minutes of its first attempt, with the same Repeatability-Request-Id, First-Sent and body, gets
 * the original's answer instead of a second email. So a lost answer is ambiguous (never a failover: another
 * provider knows nothing of the id), and the core settles it at once with the adapter's `settle()`, which repeats
 * the request. 409 and 412 mean ACS may have the message but will not say so here: ambiguous too, for `settle()`.
 */
export function translateAcsError(
  error: unknown,
  origin: ErrorOrigin,
  facts: AcsSendFacts,
  watch?: ConnectWatch,
): MailrouteError {
  if (isMailrouteError(error)) return error;
  const e = (error ?? {}) as SdkError;
  const status = e.statusCode;
  const body = e.response?.parsedBody?.error;
  const code = body?.code ?? e.code ?? e.name ?? 'Error';
  const reason = body?.message ?? e.message ?? code;
  const options = { ...origin, cause: error, providerCode: status ?? code };
  if (status === 401 || status === 403 || IDENTITY_ERRORS.has(e.name ?? '')) {
    return new AuthenticationError(`ACS refused the credentials (${status ?? e.name}): ${reason}`, options);
  }
  if (status === 429) {
    const retryAfterMs = retryAfter(e.response?.headers);
    return new ThrottledError(`ACS throttled the send (${code}): ${reason}`, {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 404 || /ApiVersion/i.test(code)) {
    return new ConfigurationError(`ACS: ${reason} (check the endpoint and api version)`, options);
  }
  if (status === 413) {
    return new MessageTooLargeError('the request', facts.size, facts.maxBytes, 'bytes', options);
  }
  const key = facts.idempotencyKey;
  if (key !== undefined && (status === 409 || status === 412)) {
    const why =
      status === 409
        ? 'is still processing the first request with this Repeatability-Request-Id'
        : 'no longer tracks the first request with this Repeatability-Request-Id (first sent over 5 minutes ago)';
    return new AmbiguousDeliveryError(
      `ACS ${why}: it may have sent operation ${facts.operationId}; settle it rather than send it again (${reason})`,
      options,
    );
  }
  if (key !== undefined && status === 400 && repeatabilityResultOf(error) === 'rejected') {
    return new IdempotencyConflictError(key, options);
  }
  if (status === 408 || (status && status >= 500)) {
    return new TransientError(`ACS answered ${status} (${code}): ${reason}`, options);
  }
  if (status && status >= 400) {
    if (/spam|malware|virus|content/i.test(code))
      return new ContentRejectedError(`ACS rejected the message: ${reason}`, options);
    return new InvalidMessageError(
      [{ path: body?.target ?? '', message: `ACS refused it (${code}): ${reason}` }],
      options,
    );
  }
  const unsent = unsentFailure(error, watch, 'ACS', options);
  if (unsent) return unsent;
  if (NEVER_CONNECTED_CODES.has(e.code ?? ''))
    return new TransientError(`ACS unreachable (${e.code}): ${reason}`, options);
  // A socket error carries an errno code; anything else was raised in the client before a request left.
  const inFlight = e.name === 'AbortError' || /^(E[A-Z_]+|REQUEST_SEND_ERROR)$/.test(e.code ?? '');
  if (!inFlight) return new ConfigurationError(`the ACS client failed before sending (${code}): ${reason}`, options);
  const what = `no answer from ACS after the request was sent (${code}): ${reason}`;
  if (facts.idempotencyKey !== undefined) {
    return new AmbiguousDeliveryError(
      `${what}; ACS may have accepted it (operation ${facts.operationId}): it is settled by repeating the request under the same Repeatability-Request-Id, which ACS answers with the original's result`,
      options,
    );
  }
  return new AmbiguousDeliveryError(
    `${what}; ACS may have accepted it (operation ${facts.operationId}, random: the message has no idempotency key)`,
    options,
  );
}

/**
 * A terminal operation that did not succeed. `Failed` means ACS gave up delivering (its example: EmailDropped,
 * "dropped after several attempts to deliver"): the recipients' side, which another provider would meet too,
 * unless the code names the content. `Canceled` means it was not sent and will not be: another provider may.
 */
export function unsuccessfulOperation(
  status: 'Failed' | 'Canceled',
  detail: { code?: string; message?: string } | undefined,
  recipients: string[],
  origin: ErrorOrigin,
  operationId: string,
): MailrouteError {
  const code = detail?.code ?? status;
  const reason = `${code}: ${detail?.message ?? `the operation ended ${status}`} (operation ${operationId})`;
  const options = { ...origin, providerCode: code };
  if (status === 'Canceled') return new ProviderUnavailableError(`ACS canceled the send: ${reason}`, options);
  if (/spam|malware|virus|content/i.test(code))
    return new ContentRejectedError(`ACS rejected the message: ${reason}`, options);
  return new RecipientRejectedError(
    recipients.map((address) => ({ address, reason, providerCode: code })),
    options,
  );
}

/** The HTTP status of an SDK error, when the service answered. */
export function statusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.statusCode;
}

/** `Repeatability-Result` of an SDK error's response: `accepted`, `rejected`, or undefined when absent. */
export function repeatabilityResultOf(error: unknown): string | undefined {
  return (error as SdkError | undefined)?.response?.headers?.get('repeatability-result')?.toLowerCase();
}

/** `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, in milliseconds. */
function retryAfter(headers: { get(name: string): string | undefined } | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? headers?.get('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  return parseRetryAfter(headers?.get('retry-after'));
}
