import { isMailrouteError, type MailrouteError } from '../errors.ts';

/** A platform-neutral HTTP answer: the local server and every cloud's HTTP handler write it out as is. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const STATUS_BY_CODE: Record<string, number> = {
  INVALID_MESSAGE: 400,
  MESSAGE_TOO_LARGE: 413,
  UNSUPPORTED_FEATURE: 422,
  RECIPIENT_REJECTED: 422,
  CONTENT_REJECTED: 422,
  THROTTLED: 429,
  AUTHENTICATION: 502,
  AMBIGUOUS: 502,
  CONFIGURATION: 500,
  PROVIDER_UNAVAILABLE: 503,
  TRANSIENT: 503,
  ALL_PROVIDERS_FAILED: 503,
  IDEMPOTENCY_CONFLICT: 409,
  IN_PROGRESS: 409,
  DEADLINE_EXCEEDED: 503,
  STATE_STORE: 503,
  SUPPRESSED: 422,
  EVENT_REJECTED: 400,
};

/** The HTTP status and body for an error: the body is the error's JSON form, which holds no secret. */
export function errorToHttp(error: unknown): HttpAnswer {
  if (!isMailrouteError(error)) {
    return {
      status: 500,
      headers: {},
      body: { error: { name: 'Error', code: 'INTERNAL', message: 'internal error' } },
    };
  }
  const headers: Record<string, string> = {};
  const retryAfterMs = (error as MailrouteError & { retryAfterMs?: number }).retryAfterMs;
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
  const status = (error as MailrouteError & { status?: number }).status ?? STATUS_BY_CODE[error.code] ?? 500;
  return { status, headers, body: { error: error.toJSON() } };
}
