import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  type ErrorOrigin,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { NEVER_CONNECTED_CODES, parseRetryAfter } from '../../core/network.ts';

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
 * | 413 | MessageTooLargeError |
 * | 408, 5xx | TransientError |
 * | no connection at all (refused, DNS, unreachable) | TransientError |
 * | raised in the client before sending (no status, no socket error code) | ConfigurationError |
 * | dropped or timed out once connected, with a key-derived Operation-Id | TransientError |
 * | dropped or timed out once connected, with a random Operation-Id | AmbiguousDeliveryError |
 *
 * A request that reached the service and got no answer may have been accepted. With an Operation-Id derived from
 * the idempotency key, sending again (a router retry, a queue redelivery) carries the same id, and the service
 * answers with the operation it already has rather than sending twice: a retry with the same id is safe. (The
 * spec makes the header the operation's id; that the live service de-duplicates on it is unverified.) Note that
 * TransientError also allows failover, and another provider knows nothing of the id.
 */
export function translateAcsError(error: unknown, origin: ErrorOrigin, facts: AcsSendFacts): MailrouteError {
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
  if (NEVER_CONNECTED_CODES.has(e.code ?? ''))
    return new TransientError(`ACS unreachable (${e.code}): ${reason}`, options);
  // A socket error carries an errno code; anything else was raised in the client before a request left.
  const inFlight = e.name === 'AbortError' || /^(E[A-Z_]+|REQUEST_SEND_ERROR)$/.test(e.code ?? '');
  if (!inFlight) return new ConfigurationError(`the ACS client failed before sending (${code}): ${reason}`, options);
  const what = `no answer from ACS after the request was sent (${code}): ${reason}`;
  if (facts.keyed) {
    return new TransientError(
      `${what}; a retry with the same Operation-Id ${facts.operationId} is safe: ACS answers with that operation`,
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

/** `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, in milliseconds. */
function retryAfter(headers: { get(name: string): string | undefined } | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? headers?.get('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  return parseRetryAfter(headers?.get('retry-after'));
}
