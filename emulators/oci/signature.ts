import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface OciApiKey {
  /** `<tenancy OCID>/<user OCID>/<key fingerprint>`, as the SDK's SimpleAuthenticationDetailsProvider builds it. */
  keyId: string;
  publicKeyPem: string;
}

export type SignatureCheck = { ok: true; keyId: string } | { ok: false; reason: string };

/** OCI refuses a request whose date is further than this from its own clock. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Headers every OCI request signature must cover; bodies add the three below. */
const ALWAYS_SIGNED = ['(request-target)', 'host'];
const BODY_SIGNED = ['content-length', 'content-type', 'x-content-sha256'];
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function keysById(keys: OciApiKey[]): Map<string, KeyObject> {
  return new Map(keys.map((key) => [key.keyId, createPublicKey(key.publicKeyPem)]));
}

function parseAuthorization(header: string | undefined): Record<string, string> | undefined {
  if (!header?.startsWith('Signature ')) return undefined;
  const params: Record<string, string> = {};
  for (const match of header.slice('Signature '.length).matchAll(/([a-zA-Z]+)="([^"]*)"/g)) {
    params[match[1]!] = match[2]!;
  }
  return params;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Verifies an OCI request signature (draft-cavage HTTP signatures, version 1, rsa-sha256). The SDK
 * (oci-common 2.139) signs `x-date (request-target) host` plus, for bodies, `Content-Type Content-Length
 * x-content-sha256`; names are compared lower-cased and `date` is accepted in place of `x-date`.
 * The body digest is checked against the bytes received, so a body changed in transit fails here.
 */
export function verifyOciSignature(
  req: IncomingMessage,
  body: Buffer,
  keys: Map<string, KeyObject>,
  now = Date.now(),
): SignatureCheck {
  const params = parseAuthorization(req.headers.authorization);
  if (!params) return { ok: false, reason: 'missing or non-Signature authorization header' };
  if (params.version !== '1') return { ok: false, reason: 'signature version must be "1"' };
  if (params.algorithm !== 'rsa-sha256')
    return { ok: false, reason: `unsupported algorithm ${params.algorithm ?? ''}` };
  const key = keys.get(params.keyId ?? '');
  if (!key) return { ok: false, reason: `unknown keyId ${params.keyId ?? ''}` };
  if (!params.signature || !params.headers) return { ok: false, reason: 'signature or headers parameter missing' };

  const signedHeaders = params.headers.split(' ').map((name) => name.toLowerCase());
  const required = [...ALWAYS_SIGNED, ...(BODY_METHODS.has(req.method ?? '') ? BODY_SIGNED : [])];
  const missing = required.filter((name) => !signedHeaders.includes(name));
  if (!signedHeaders.includes('date') && !signedHeaders.includes('x-date')) missing.push('date or x-date');
  if (missing.length > 0) return { ok: false, reason: `headers not signed: ${missing.join(', ')}` };

  const lines: string[] = [];
  for (const name of signedHeaders) {
    if (name === '(request-target)') {
      lines.push(`(request-target): ${(req.method ?? '').toLowerCase()} ${req.url ?? '/'}`);
      continue;
    }
    const value = headerValue(req, name);
    if (value === undefined) return { ok: false, reason: `signed header ${name} absent` };
    lines.push(`${name}: ${value}`);
  }

  const date = Date.parse(headerValue(req, 'x-date') ?? headerValue(req, 'date') ?? '');
  if (Number.isNaN(date) || Math.abs(now - date) > MAX_CLOCK_SKEW_MS) {
    return { ok: false, reason: 'date missing or not within 5 minutes of the server clock' };
  }
  if (signedHeaders.includes('x-content-sha256')) {
    const digest = createHash('sha256').update(body).digest('base64');
    if (headerValue(req, 'x-content-sha256') !== digest)
      return { ok: false, reason: 'x-content-sha256 does not match the body' };
  }
  const valid = verify('sha256', Buffer.from(lines.join('\n')), key, Buffer.from(params.signature, 'base64'));
  return valid ? { ok: true, keyId: params.keyId! } : { ok: false, reason: 'signature does not verify' };
}
