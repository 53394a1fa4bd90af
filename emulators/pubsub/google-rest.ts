import type { ServerResponse } from 'node:http';
import type { Fault } from '../common/faults.ts';
import { writeJson } from '../common/http.ts';

/** google.rpc codes that Google's REST APIs put in `error.status` next to the HTTP status. */
// Pub/Sub's own table (409 ALREADY_EXISTS, 504 DEADLINE_EXCEEDED), not Gmail's: kept apart from gmail/google-errors.ts.
const RPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export interface RestError {
  status: number;
  message: string;
  /** google.rpc code; default from the HTTP status. */
  rpcStatus?: string;
  /** `google.rpc.ErrorInfo` reason, as Google adds to auth and quota errors. */
  reason?: string;
  headers?: Record<string, string>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  writeJson(res, status, body, 'application/json; charset=UTF-8', headers);
}

/** Pub/Sub's REST error shape: `{ error: { code, message, status, details? } }` (no legacy `errors` array). */
export function sendRestError(res: ServerResponse, error: RestError): void {
  const status = error.rpcStatus ?? RPC_STATUS[error.status] ?? 'UNKNOWN';
  const details = error.reason
    ? [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: error.reason, domain: 'googleapis.com' }]
    : undefined;
  sendJson(
    res,
    error.status,
    { error: { code: error.status, message: error.message, status, ...(details ? { details } : {}) } },
    error.headers,
  );
}

const FAULT_MESSAGES: Record<number, string> = {
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'Internal error encountered.',
  503: 'The service is currently unavailable.',
  504: 'Deadline exceeded.',
};

/** The answer an injected fault plays: its status (default 503), Google's wording, `Retry-After` when set. */
export function faultError(fault: Fault): RestError {
  const status = fault.status ?? 503;
  return {
    status,
    message: fault.message ?? FAULT_MESSAGES[status] ?? `HTTP ${status}`,
    ...(fault.errorCode ? { rpcStatus: fault.errorCode } : {}),
    ...(fault.retryAfter === undefined ? {} : { headers: { 'retry-after': String(fault.retryAfter) } }),
  };
}

const AUTH_TAIL =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/** What Google answers a request without a bearer token, with an unknown one, or with one lacking the scope. */
export function authError(kind: 'missing' | 'invalid' | 'scope'): RestError {
  if (kind === 'scope') {
    return {
      status: 403,
      message: 'Request had insufficient authentication scopes.',
      reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
    };
  }
  return {
    status: 401,
    message: `Request ${kind === 'missing' ? 'is missing required' : 'had invalid'} authentication credential${kind === 'missing' ? '' : 's'}. ${AUTH_TAIL}`,
    reason: kind === 'missing' ? 'CREDENTIALS_MISSING' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
    headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' },
  };
}
