import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** A Lambda API error: its type goes in `x-amzn-ErrorType`, where the SDK reads the error's name. */
export class LambdaApiError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status: number) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/** `name`, `name:qualifier`, `arn:aws:lambda:region:account:function:name[:qualifier]` or `account:function:name`. */
export function resolveName(value: string): { name: string; qualifier?: string } {
  const parts = value.split(':');
  const at = parts.indexOf('function');
  const [name = '', qualifier] = at === -1 ? parts : parts.slice(at + 1);
  return qualifier ? { name, qualifier } : { name };
}

export function sendError(res: ServerResponse, error: LambdaApiError, headers: Record<string, string> = {}) {
  res.writeHead(error.status, {
    ...headers,
    'content-type': 'application/json',
    'x-amzn-errortype': error.type,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(JSON.stringify({ Type: error.status >= 500 ? 'Service' : 'User', message: error.message }));
}
