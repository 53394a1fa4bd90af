import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fault } from '../common/faults.ts';
import { writeJson } from '../common/http.ts';

/** Codes and messages from the OCI-wide API error table, for the statuses a submit call can meet. */
// OCI's own table; the Google emulators' tables look alike but hold their services' codes (each from its spec).
const DEFAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'InvalidParameter', message: 'Invalid parameter.' },
  401: {
    code: 'NotAuthenticated',
    message: 'The required information to complete authentication was not provided or was incorrect.',
  },
  403: { code: 'NotAuthorized', message: 'You do not have authorization to perform this request.' },
  404: { code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' },
  405: { code: 'MethodNotAllowed', message: 'Method not allowed.' },
  409: { code: 'IncorrectState', message: 'The requested state for the resource conflicts with its current state.' },
  429: { code: 'TooManyRequests', message: 'Too many requests for the user.' },
  500: { code: 'InternalServerError', message: 'Internal error occurred.' },
  502: { code: 'BadGateway', message: 'Bad gateway.' },
  503: { code: 'ServiceUnavailable', message: 'Service unavailable.' },
  504: { code: 'GatewayTimeout', message: 'Gateway timeout.' },
};

export interface OciErrorReply {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/**
 * OCI answers `opc-request-id` on every response; when the client sent one, the service's id starts with it
 * (`<client id>/<service ids>`), which is how a client log line finds the service's.
 */
export function requestIdFor(req: IncomingMessage): string {
  const own = randomBytes(16).toString('hex').toUpperCase();
  const client = req.headers['opc-request-id'];
  return typeof client === 'string' && client !== '' ? `${client}/${own}` : own;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string> = {},
): void {
  writeJson(res, status, body, 'application/json', { 'opc-request-id': requestId, ...headers });
}

/** The `{"code","message"}` body the SDK turns into an OciError (statusCode, serviceCode, message). */
export function sendOciError(res: ServerResponse, reply: OciErrorReply, requestId: string): void {
  sendJson(res, reply.status, { code: reply.code, message: reply.message }, requestId, reply.headers);
}

export function errorFor(status: number, message?: string, code?: string): OciErrorReply {
  const defaults = DEFAULTS[status] ?? { code: 'InternalServerError', message: `HTTP ${status}` };
  return { status, code: code ?? defaults.code, message: message ?? defaults.message };
}

export const invalidParameter = (message: string): OciErrorReply => errorFor(400, message);

/** The reply an injected fault plays: its status (500 by default) with OCI's code for it unless one is given. */
export function faultError(fault: Fault): OciErrorReply {
  const reply = errorFor(
    fault.status ?? (fault.errorCode === 'TooManyRequests' ? 429 : 500),
    undefined,
    fault.errorCode,
  );
  if (fault.retryAfter !== undefined) reply.headers = { 'retry-after': String(fault.retryAfter) };
  return reply;
}
