import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/** The audience google-auth-library signs into every assertion, whatever URL it posts it to. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Google refuses assertions that live longer than this. */
const MAX_LIFETIME_SECONDS = 3600;
/** Tolerance for an `iat` slightly in the future (clock skew between client and server). */
const CLOCK_SKEW_SECONDS = 300;

export interface ServiceAccountKey {
  clientEmail: string;
  publicKeyPem: string;
}

export interface AssertionPolicy {
  /** Public keys per client email; a service account may have several active keys. */
  keys: Map<string, KeyObject[]>;
  delegatedUsers: Set<string>;
  delegatedScopes: Set<string>;
  audiences: Set<string>;
}

export interface Grant {
  clientEmail: string;
  /** The impersonated Workspace user (`sub`), absent when the service account asks for itself. */
  subject?: string;
  scopes: string[];
}

export type AssertionResult =
  | { ok: true; grant: Grant }
  | { ok: false; status: 400 | 401; error: string; description: string };

/** Parses the PEM keys once, so a bad key in the emulator's configuration fails at start, not mid-test. */
export function keysByEmail(accounts: ServiceAccountKey[]): Map<string, KeyObject[]> {
  const keys = new Map<string, KeyObject[]>();
  for (const account of accounts) {
    const list = keys.get(account.clientEmail) ?? [];
    list.push(createPublicKey(account.publicKeyPem));
    keys.set(account.clientEmail, list);
  }
  return keys;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const invalidGrant = (description: string): AssertionResult => ({
  ok: false,
  status: 400,
  error: 'invalid_grant',
  description,
});

const TIMEFRAME =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
const UNAUTHORIZED_CLIENT =
  'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.';

/**
 * Checks a JWT-bearer assertion the way Google's token endpoint does, in the same order: shape, issuer,
 * signature, audience, lifetime, scope, then domain-wide delegation of the subject.
 */
export function checkAssertion(assertion: string, policy: AssertionPolicy, nowSeconds: number): AssertionResult {
  const parts = assertion.split('.');
  const [headerPart, payloadPart, signaturePart] = parts;
  if (parts.length !== 3 || !headerPart || !payloadPart || !signaturePart) return invalidGrant('Invalid JWT.');
  const header = decodeJson(headerPart);
  const claims = decodeJson(payloadPart);
  if (!header || !claims) return invalidGrant('Invalid JWT.');

  const iss = typeof claims.iss === 'string' ? claims.iss : '';
  const keys = policy.keys.get(iss);
  if (!keys) return invalidGrant('Invalid grant: account not found');
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  const valid = header.alg === 'RS256' && keys.some((key) => verify('sha256', signed, key, signature));
  if (!valid) return invalidGrant('Invalid JWT Signature.');

  if (typeof claims.aud !== 'string' || !policy.audiences.has(claims.aud)) {
    return invalidGrant(`Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_URL}`);
  }
  const { iat, exp } = claims;
  if (typeof iat !== 'number' || typeof exp !== 'number') return invalidGrant(TIMEFRAME);
  if (exp <= nowSeconds || iat > nowSeconds + CLOCK_SKEW_SECONDS || exp <= iat || exp - iat > MAX_LIFETIME_SECONDS) {
    return invalidGrant(TIMEFRAME);
  }

  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  if (scopes.length === 0) {
    return {
      ok: false,
      status: 400,
      error: 'invalid_scope',
      description: 'Invalid OAuth scope or ID token audience provided.',
    };
  }
  const subject = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  if (subject !== undefined) {
    // Domain-wide delegation is granted per client and per scope by the Workspace admin; Google answers
    // both "user not delegated" and "scope not granted" with the same 401.
    const delegated = policy.delegatedUsers.has(subject.toLowerCase());
    if (!delegated || !scopes.every((scope) => policy.delegatedScopes.has(scope))) {
      return { ok: false, status: 401, error: 'unauthorized_client', description: UNAUTHORIZED_CLIENT };
    }
  }
  return { ok: true, grant: { clientEmail: iss, subject, scopes } };
}
