// The same classes as the other providers' error mappings import, on purpose: every API maps onto one taxonomy.
import {
  AuthenticationError,
  ConfigurationError,
  type ErrorOrigin,
  InvalidMessageError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { parseRetryAfter } from '../../core/util/network.ts';
import { connectTimedOut } from '../http/connect-watch.ts';

/** The parts of a gaxios error this mapping reads; any thrown value is narrowed to it defensively. */
interface HttpFailure {
  status?: number;
  code?: string;
  message?: string;
  response?: { status?: number; data?: unknown; headers?: unknown };
}

/** Google's v1 error body (API) or RFC 6749's (token endpoint): `error` is an object in one, a string in the other. */
interface GoogleErrorBody {
  error?: string | { code?: number; message?: string; status?: string; errors?: { reason?: string }[] };
  error_description?: string;
}

/** Reasons Gmail gives with 403 (or 429) when a quota, not a permission, stopped the send. */
const QUOTA_REASONS = new Set(['userRateLimitExceeded', 'rateLimitExceeded', 'dailyLimitExceeded', 'quotaExceeded']);

/** OAuth errors that mean the credentials or the delegation are wrong, not that the endpoint is unwell. */
const CREDENTIAL_ERRORS = new Set([
  'invalid_grant',
  'unauthorized_client',
  'invalid_client',
  'invalid_scope',
  'access_denied',
]);

export interface GmailFailure {
  status?: number;
  /** The Google error reason (`userRateLimitExceeded`) or OAuth error (`invalid_grant`). */
  reason?: string;
  message: string;
  /** True when the token endpoint, not the Gmail API, answered. */
  token: boolean;
  retryAfterMs?: number;
}

/** What a gaxios rejection says, whichever endpoint answered and whether anything answered at all. */
export function describeGmailFailure(error: unknown, now = Date.now()): GmailFailure {
  const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as HttpFailure;
  const status = failure.response?.status ?? failure.status;
  const body = (failure.response?.data ?? {}) as GoogleErrorBody;
  if (typeof body.error === 'string') {
    const message = `token endpoint: ${body.error}${body.error_description ? `: ${body.error_description}` : ''}`;
    return { status, reason: body.error, message, token: true, retryAfterMs: retryAfter(failure, '', now) };
  }
  const api = typeof body.error === 'object' ? body.error : undefined;
  const message = api?.message ?? failure.message ?? 'no answer';
  return {
    status,
    reason: api?.errors?.[0]?.reason,
    message,
    token: false,
    retryAfterMs: retryAfter(failure, message, now),
  };
}

/** `Retry-After` (seconds or an HTTP date), else the "Retry after <ISO time>" Gmail writes into a 429's message. */
function retryAfter(failure: HttpFailure, message: string, now: number): number | undefined {
  // gaxios 7 gives a fetch Headers (possibly another realm's class); older ones a plain object.
  const headers = failure.response?.headers as { get?: (name: string) => string | null } | undefined;
  const header =
    typeof headers?.get === 'function'
      ? headers.get('retry-after')
      : (headers as Record<string, string> | undefined)?.['retry-after'];
  const fromHeader = parseRetryAfter(header, now);
  if (fromHeader !== undefined) return fromHeader;
  const at = /Retry after (\S+Z)/.exec(message)?.[1];
  return at && !Number.isNaN(Date.parse(at)) ? Math.max(0, Date.parse(at) - now) : undefined;
}

/** A 401 from the Gmail API itself: the cached access token was refused (expired or revoked server-side). */
export function isRefusedAccessToken(error: unknown): boolean {
  const failure = describeGmailFailure(error);
  return !failure.token && failure.status === 401;
}

/**
 * Translates a failed users.messages.send (or its token request) into the project's error classes.
 * `sent` is the encoded size and the declared limit, for a 413.
 */
export function mapGmailError(
  error: unknown,
  origin: Required<ErrorOrigin>,
  sent: { size: number; limit: number },
): MailrouteError {
  const f = describeGmailFailure(error);
  const options = { ...origin, cause: error, providerCode: f.reason ?? f.status };
  const text = `Gmail ${f.status ?? 'network'}: ${f.message}`;
  const { status, reason } = f;
  if (status === undefined && connectTimedOut(error)) {
    // No connection in time (token endpoint or API): nothing was sent, and retrying costs the timeout again.
    return new ProviderUnavailableError(`Gmail could not be connected to: ${f.message}`, options);
  }
  if (status === 429 || (reason && QUOTA_REASONS.has(reason))) {
    return new ThrottledError(text, { ...options, retryAfterMs: f.retryAfterMs });
  }
  if (f.token) {
    if (status !== undefined && status >= 500) return new TransientError(text, options);
    // invalid_grant (wrong key, expired assertion), unauthorized_client (sub not delegated) and the rest.
    const hint = reason && CREDENTIAL_ERRORS.has(reason) ? '' : ' (unexpected token endpoint answer)';
    return new AuthenticationError(`${text}${hint}`, options);
  }
  if (status === undefined || status >= 500 || status === 408) return new TransientError(text, options);
  // failedPrecondition: the service account acts without a delegated user, or the user has no Gmail.
  if (status === 401 || status === 403 || reason === 'failedPrecondition') {
    return new AuthenticationError(text, options);
  }
  if (status === 413) {
    return new MessageTooLargeError('the encoded message', sent.size, sent.limit, 'bytes', options);
  }
  if (status === 404) {
    return new ConfigurationError(`${text} (check endpoint and user)`, { ...options, issues: [] });
  }
  if (status === 400) return new InvalidMessageError([{ path: '', message: text }], options);
  return new TransientError(text, options);
}
