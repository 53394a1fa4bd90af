import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { EventRejectedError, TransientError } from '../errors.ts';

/**
 * Event Grid webhooks authenticated by Microsoft Entra: a subscription set to "Use Microsoft Entra authentication"
 * gets a token from the tenant for the webhook's application and sends it as `Authorization: Bearer <JWT>`. It is
 * taken when its RS256 signature verifies with a key of the tenant's JWKS, it was issued by that tenant (v2 or v1
 * issuer, and `tid`), its `aud` is the application, it has not expired (5 minutes of clock skew), and its `roles`
 * include the app role assigned to Event Grid's service principal.
 */
export interface EventGridEntraConfig {
  tenantId: string;
  audience: string;
  jwksUri?: string;
  requiredRole?: string;
}

export const DEFAULT_EVENT_GRID_ROLE = 'AzureEventGridSecureWebhookSubscriber';

const CLOCK_TOLERANCE_SECONDS = 5 * 60;

/** The tenant's signing keys, as Entra publishes them (the same keys sign v1 and v2 tokens). */
export function defaultJwksUri(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId.toLowerCase()}/discovery/v2.0/keys`;
}

/** The issuers a token of the tenant may carry: v2.0 tokens, and v1.0 ones (the default for an app registration). */
export function entraIssuers(tenantId: string): string[] {
  const tenant = tenantId.toLowerCase();
  return [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`];
}

/**
 * Whether a bearer token has the form of a JWS compact serialization with a JSON header naming its `alg`: three
 * base64url parts (the last may be empty, as in an `alg: none` token, which is then refused by its algorithm).
 */
export function looksLikeJwt(token: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/** One key set per URL for the process: the JWKS is fetched once, then again only for an unknown `kid` (≥ 30 s apart). */
const keySets = new Map<string, KeySet>();

function keySet(uri: string): KeySet {
  let set = keySets.get(uri);
  if (!set) {
    set = createRemoteJWKSet(new URL(uri));
    keySets.set(uri, set);
  }
  return set;
}

/** The key set could not be had (unreachable, not 200, not a JWKS): a fault on this side, not the sender's. */
class KeysUnavailable extends Error {}

/**
 * Verifies an Entra token from Event Grid. A token that fails is an `EventRejectedError` (401) saying why; a JWKS
 * that cannot be fetched is a `TransientError` (503), so Event Grid delivers again later rather than dead-lettering.
 */
export async function verifyEventGridToken(token: string, config: EventGridEntraConfig): Promise<JWTPayload> {
  const uri = config.jwksUri ?? defaultJwksUri(config.tenantId);
  const keys = keySet(uri);
  const role = config.requiredRole ?? DEFAULT_EVENT_GRID_ROLE;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header, jws) => {
        try {
          return await keys(header, jws);
        } catch (error) {
          if (
            error instanceof errors.JWKSNoMatchingKey ||
            error instanceof errors.JWKSMultipleMatchingKeys ||
            error instanceof errors.JOSENotSupported
          ) {
            throw error;
          }
          throw new KeysUnavailable((error as Error).message, { cause: error });
        }
      },
      {
        issuer: entraIssuers(config.tenantId),
        audience: config.audience,
        algorithms: ['RS256'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iss', 'aud'],
      },
    ));
  } catch (error) {
    if (error instanceof KeysUnavailable) {
      throw new TransientError(`could not fetch the Entra signing keys from ${uri}: ${error.message}`, {
        provider: 'acs',
        cause: error.cause,
      });
    }
    throw refuse(reason(error, token));
  }
  if (typeof payload.tid === 'string' && payload.tid.toLowerCase() !== config.tenantId.toLowerCase()) {
    throw refuse(
      `the Entra token is for another tenant (tid ${shown(payload.tid)}), not events.eventGridEntra.tenantId`,
    );
  }
  const roles = Array.isArray(payload.roles) ? payload.roles : [];
  if (!roles.includes(role)) {
    throw refuse(
      `the Entra token lacks the app role ${role} (roles: ${roles.length ? roles.map(shown).join(', ') : 'none'}): assign it to the Microsoft.EventGrid service principal on the webhook's application`,
    );
  }
  return payload;
}

function refuse(message: string): EventRejectedError {
  return new EventRejectedError('acs', message, 401);
}

/** What a failed verification says, in the words of the claim or check that failed. */
function reason(error: unknown, token: string): string {
  if (error instanceof errors.JWTExpired) {
    return `the Entra token has expired (exp ${when(error.payload.exp)}, 5 minutes of clock skew allowed)`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const value = error.payload[error.claim];
    if (error.reason === 'missing') return `the Entra token has no ${error.claim} claim`;
    if (error.claim === 'aud') {
      return `the Entra token is for another audience (aud ${shown(value)}), not events.eventGridEntra.audience`;
    }
    if (error.claim === 'iss') {
      return `the Entra token is from another issuer (iss ${shown(value)}), not the tenant of events.eventGridEntra.tenantId`;
    }
    if (error.claim === 'nbf') return `the Entra token is not valid yet (nbf ${when(value)})`;
    return `the Entra token's ${error.claim} claim is invalid: ${error.message}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "the Entra token's signature does not verify with the tenant's signing keys";
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return `the Entra token's signature is by a key that is not among the tenant's signing keys (kid ${shown(kid(token))})`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return `the Entra token's signature algorithm ${shown(alg(token))} is not allowed (RS256 only)`;
  }
  return `the bearer token is not a valid Entra token: ${(error as Error).message}`;
}

function header(token: string): Record<string, unknown> {
  try {
    return decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const kid = (token: string) => header(token).kid;
const alg = (token: string) => header(token).alg;

/** A claim as the token has it, quoted and cut short: it comes from the sender. */
function shown(value: unknown): string {
  if (value === undefined) return 'none';
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(text.slice(0, 120));
}

function when(seconds: unknown): string {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : shown(seconds);
}
