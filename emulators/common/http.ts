import { randomUUID } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * HTTP plumbing every emulator shares. What a service answers (status, error body, its own headers) stays in the
 * emulator; these only write a JSON body, bind to loopback and shut down.
 */

/** Writes `body` as JSON with its byte length; `headers` (service headers such as a request id) come after. */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType: string,
  headers: Record<string, string | number> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Listens on `host:port` (port 0: any free one) and returns the port bound. */
export async function listen(server: Server, port: number | undefined, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port ?? 0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * Stops listening and ends every open connection, those held by a `hang` fault included. Rejects when the server
 * was not running (callers that never cared add `.catch(() => {})`).
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/** `host:port` for a URL, an IPv6 host in brackets. */
export function authority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** An error a handler throws to answer the service's error `code` with `status`, in the service's own format. */
export class ServiceError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** An AWS JSON protocol answer (`application/x-amz-json-1.0` for SQS, `-1.1` for SSM) with a fresh request id. */
export function writeAwsJson(res: ServerResponse, status: number, body: unknown, version: '1.0' | '1.1'): void {
  res.writeHead(status, { 'content-type': `application/x-amz-json-${version}`, 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(body));
}
