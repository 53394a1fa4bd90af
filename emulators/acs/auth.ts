import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface AcsAuthConfig {
  /** The resource access key, base64 (as in the connection string). */
  accessKey: string;
  /** Entra ID bearer tokens the emulator accepts; empty means bearer auth is refused. */
  acceptedTokens: readonly string[];
  /** How far `x-ms-date` may be from the emulator's clock (the 15-minute window is unverified). */
  maxClockSkewMs: number;
}

const hmacPattern = /^HMAC-SHA256\s+SignedHeaders=([^&]+)&Signature=(\S+)$/;

/**
 * Checks a request the way the service does: either a bearer token, or an HMAC-SHA256 signature over
 * `METHOD\n<path?query>\n<values of SignedHeaders joined by ';'>` keyed with the base64-decoded access key,
 * where `x-ms-content-sha256` must be the base64 SHA-256 of the body actually received.
 * Returns why it was refused, or undefined when the request is authentic. The reason is for the emulator's
 * own diagnostics only: the service answers every refusal with the same `Denied` body.
 */
export function checkAcsAuth(req: IncomingMessage, body: Buffer, config: AcsAuthConfig): string | undefined {
  const authorization = req.headers.authorization;
  if (!authorization) return 'missing Authorization header';
  if (authorization.startsWith('Bearer ')) {
    const token = authorization.slice('Bearer '.length).trim();
    return config.acceptedTokens.includes(token) ? undefined : 'bearer token not accepted';
  }
  const match = hmacPattern.exec(authorization);
  if (!match) return 'Authorization is neither HMAC-SHA256 nor Bearer';
  const signedHeaders = match[1]!.toLowerCase().split(';');
  const signature = match[2]!;
  // The SDK signs `x-ms-date`; the generic scheme also allows `date`. Either way the three must be signed,
  // or a replayed signature could be reused with another body or host.
  const dateHeader = signedHeaders.includes('x-ms-date') ? 'x-ms-date' : 'date';
  for (const required of [dateHeader, 'host', 'x-ms-content-sha256']) {
    if (!signedHeaders.includes(required)) return `SignedHeaders lacks ${required}`;
  }
  const values: string[] = [];
  for (const name of signedHeaders) {
    const value = req.headers[name];
    if (typeof value !== 'string') return `signed header ${name} missing`;
    values.push(value);
  }
  const date = Date.parse(req.headers[dateHeader] as string);
  if (Number.isNaN(date)) return `${dateHeader} is not a date`;
  if (Math.abs(Date.now() - date) > config.maxClockSkewMs) return `${dateHeader} outside the allowed clock skew`;
  const bodyHash = createHash('sha256').update(body).digest('base64');
  if (req.headers['x-ms-content-sha256'] !== bodyHash) return 'x-ms-content-sha256 does not match the body';
  // req.url is the path and query exactly as sent: the service can only sign-check what it received.
  const stringToSign = `${req.method}\n${req.url}\n${values.join(';')}`;
  const expected = createHmac('sha256', Buffer.from(config.accessKey, 'base64')).update(stringToSign).digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature mismatch';
  return undefined;
}
