import type { ServerResponse } from 'node:http';
import type { Fault } from '../common/faults.ts';
import { writeJson } from '../common/http.ts';

/** google.rpc codes that Google APIs put in `error.status` next to the HTTP status. */
// Kept apart from pubsub/google-rest.ts's table: Gmail maps 409 and 501 its own way (each API's table, from its docs).
const RPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
};

export interface GoogleErrorItem {
  reason: string;
  message?: string;
  domain?: string;
  location?: string;
  locationType?: string;
}

export interface GoogleError {
  status: number;
  message: string;
  item: GoogleErrorItem;
  /** Overrides the google.rpc code derived from the HTTP status (e.g. FAILED_PRECONDITION for a 400). */
  rpcStatus?: string;
  /** `error.details`: google.rpc payloads such as ErrorInfo. */
  details?: Record<string, unknown>[];
  headers?: Record<string, string>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  writeJson(res, status, body, 'application/json; charset=UTF-8', headers);
}

/** Answers in the JSON error shape every Google API (v1 error format) uses. */
export function sendGoogleError(res: ServerResponse, error: GoogleError): void {
  const { item } = error;
  const rpcStatus = error.rpcStatus ?? RPC_STATUS[error.status];
  const body = {
    error: {
      code: error.status,
      message: error.message,
      errors: [{ message: item.message ?? error.message, domain: item.domain ?? 'global', ...item }],
      ...(rpcStatus ? { status: rpcStatus } : {}),
      ...(error.details ? { details: error.details } : {}),
    },
  };
  sendJson(res, error.status, body, error.headers);
}

/** The OAuth 2.0 token endpoint answers errors in RFC 6749's shape, not in the API's. */
export function sendOAuthError(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description }, { 'cache-control': 'no-store' });
}

/** Gmail's documented quota reasons: 403 for these when no status is forced (Gmail's "403: ... Rate Limit Exceeded"). */
const QUOTA_REASONS: Record<string, string> = {
  userRateLimitExceeded: 'User Rate Limit Exceeded',
  rateLimitExceeded: 'Rate Limit Exceeded',
  dailyLimitExceeded: 'Daily Limit Exceeded',
};

// Gmail's own reasons and wording per status; same shape as OCI's DEFAULTS table, but each is its service's spec.
const STATUS_DEFAULTS: Record<number, { reason: string; message: string }> = {
  400: { reason: 'badRequest', message: 'Bad Request' },
  401: { reason: 'authError', message: 'Invalid Credentials' },
  403: { reason: 'forbidden', message: 'Forbidden' },
  404: { reason: 'notFound', message: 'Requested entity was not found.' },
  429: { reason: 'rateLimitExceeded', message: 'Too Many Requests' },
  500: { reason: 'backendError', message: 'Backend Error' },
  502: { reason: 'backendError', message: 'Bad Gateway' },
  503: { reason: 'backendError', message: 'The service is currently unavailable.' },
};

/**
 * The error an injected fault plays on an API path. A 429 carries Gmail's mail-sending wording, whose
 * "Retry after <time>" is the only retry hint Gmail gives in the body.
 */
export function googleFaultError(fault: Fault, now: Date = new Date()): GoogleError {
  const quotaMessage = fault.errorCode ? QUOTA_REASONS[fault.errorCode] : undefined;
  const status = fault.status ?? (quotaMessage ? 403 : 500);
  const defaults = STATUS_DEFAULTS[status] ?? { reason: 'backendError', message: `HTTP ${status}` };
  const reason = fault.errorCode ?? defaults.reason;
  let message = quotaMessage ?? defaults.message;
  if (status === 429) {
    const retryAt = new Date(now.getTime() + (fault.retryAfter ?? 1) * 1000);
    message = `User-rate limit exceeded.  Retry after ${retryAt.toISOString()} (Mail sending)`;
  }
  const domain = quotaMessage || status === 429 ? 'usageLimits' : 'global';
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  return { status, message, item: { reason, domain }, headers };
}

/** The same fault on the token endpoint, in OAuth's shape (the emulator's choice of error names). */
export function oauthFaultError(fault: Fault): { status: number; error: string; description: string } {
  const status = fault.status ?? 500;
  const error =
    fault.errorCode ??
    (status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'internal_failure' : 'invalid_request');
  return { status, error, description: 'Injected fault' };
}

const AUTH_MESSAGE_TAIL =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/** Google distinguishes a missing credential (reason `required`) from a bad or expired one (`authError`). */
export function authenticationError(missing: boolean): GoogleError {
  return {
    status: 401,
    message: missing
      ? `Request is missing required authentication credential. ${AUTH_MESSAGE_TAIL}`
      : `Request had invalid authentication credentials. ${AUTH_MESSAGE_TAIL}`,
    item: {
      reason: missing ? 'required' : 'authError',
      message: missing ? 'Login Required.' : 'Invalid Credentials',
      location: 'Authorization',
      locationType: 'header',
    },
    headers: {
      'www-authenticate': missing
        ? 'Bearer realm="https://accounts.google.com/"'
        : 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    },
  };
}

export function badRequest(message: string, reason = 'badRequest', rpcStatus?: string): GoogleError {
  return { status: 400, message, item: { reason }, rpcStatus };
}
