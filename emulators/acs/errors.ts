import type { IncomingMessage, ServerResponse } from 'node:http';

/** The `ErrorDetail` of common-types/data-plane/v1 (spec/common-types.json), which the Email swagger references. */
export interface AcsErrorDetail {
  code: string;
  message: string;
  target?: string;
}

/** One answer, as a value: repeatable requests record the original's and replay it to a repeat. */
export interface AcsAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Error codes the emulator puts in `error.code` when a fault names only a status. `Denied` (401),
 * `UnsupportedApiVersion` (400) and `TooManyRequests` (429) are what the service is seen to answer;
 * the others are plausible names, not verified against the live service.
 */
const codeByStatus: Record<number, string> = {
  400: 'BadRequest',
  401: 'Denied',
  403: 'Forbidden',
  404: 'NotFound',
  408: 'RequestTimeout',
  409: 'Conflict',
  412: 'PreconditionFailed',
  413: 'RequestEntityTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function defaultAcsErrorCode(status: number): string {
  return codeByStatus[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequest');
}

export const deniedError: AcsErrorDetail = { code: 'Denied', message: 'Denied by the resource provider.' };

/**
 * An `ErrorResponse` (`{"error":{code,message}}`) with the `x-ms-error-code` header that the swagger's `default`
 * response declares; `retry-after` only when asked (throttling).
 */
export function acsError(
  status: number,
  error: AcsErrorDetail,
  options: { retryAfter?: number; headers?: Record<string, string> } = {},
): AcsAnswer {
  const headers: Record<string, string> = { 'x-ms-error-code': error.code, ...options.headers };
  if (options.retryAfter !== undefined) headers['retry-after'] = String(options.retryAfter);
  return { status, headers, body: { error } };
}

export function acsJson(status: number, body: unknown, headers: Record<string, string> = {}): AcsAnswer {
  return { status, headers, body };
}

/** Writes an answer, unless the client has gone away (the work behind it is done either way). */
export function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: AcsAnswer): void {
  if (res.destroyed || req.socket.destroyed) return;
  res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
  res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
}
