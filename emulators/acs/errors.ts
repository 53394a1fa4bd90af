import type { ServerResponse } from 'node:http';

/** The `ErrorDetail` of common-types/data-plane/v1 (spec/common-types.json), which the Email swagger references. */
export interface AcsErrorDetail {
  code: string;
  message: string;
  target?: string;
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
 * Writes an `ErrorResponse` (`{"error":{code,message}}`) with the `x-ms-error-code` header that the
 * swagger's `default` response declares; `retry-after` only when asked (throttling).
 */
export function sendAcsError(res: ServerResponse, status: number, error: AcsErrorDetail, retryAfter?: number): void {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-ms-error-code': error.code,
  };
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  res.writeHead(status, headers);
  res.end(JSON.stringify({ error: error }));
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
