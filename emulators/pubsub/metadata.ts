import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './google-rest.ts';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';

/** Opaque bearer tokens with their scopes, as the metadata server of a Cloud Run function hands them out. */
export class AccessTokens {
  private readonly tokens = new Map<string, { scopes: string[]; expiresAt: number }>();
  /** The scopes of every token request the metadata server answered, in order. */
  readonly requests: { scopes: string[] }[] = [];

  private readonly ttlSeconds: number;

  constructor(ttlSeconds = 3599) {
    this.ttlSeconds = ttlSeconds;
  }

  issue(scopes: string[] = [CLOUD_PLATFORM_SCOPE]): { token: string; expiresIn: number } {
    const token = `ya29.c.emu-${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { scopes, expiresAt: Date.now() + this.ttlSeconds * 1000 });
    return { token, expiresIn: this.ttlSeconds };
  }

  /** `missing`, `invalid` (unknown or expired), `scope` (no Pub/Sub scope) or `ok`. */
  check(authorization: string | undefined): 'missing' | 'invalid' | 'scope' | 'ok' {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return 'missing';
    const found = this.tokens.get(token);
    if (!found || found.expiresAt <= Date.now()) return 'invalid';
    return found.scopes.some((s) => s === PUBSUB_SCOPE || s === CLOUD_PLATFORM_SCOPE) ? 'ok' : 'scope';
  }

  expireAll(): void {
    for (const token of this.tokens.values()) token.expiresAt = 0;
  }
}

const FLAVOR = { 'metadata-flavor': 'Google' };

/**
 * The few paths of the GCE/Cloud Run metadata server that google-auth-library uses (point it here with
 * `GCE_METADATA_HOST=host:port`): the detection ping, the project id, and the default service account's
 * token for the scopes asked. Like the real one, it refuses requests without `Metadata-Flavor: Google`.
 */
export function handleMetadata(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  context: { tokens: AccessTokens; project: string; serviceAccount: string },
): void {
  if (req.headers['metadata-flavor'] !== 'Google') {
    res.writeHead(403, { 'content-type': 'text/html' }).end('Missing Metadata-Flavor:Google header.');
    return;
  }
  const path = url.pathname.replace(/^\/computeMetadata\/v1\/?/, '');
  const texts: Record<string, string> = {
    instance: 'attributes/\nservice-accounts/\nzone\n',
    'instance/': 'attributes/\nservice-accounts/\nzone\n',
    'project/project-id': context.project,
    'instance/service-accounts/default/email': context.serviceAccount,
  };
  const text = texts[path];
  if (text !== undefined) {
    res.writeHead(200, { 'content-type': 'application/text', ...FLAVOR }).end(text);
  } else if (path === 'instance/service-accounts/default/token') {
    const scopes = (url.searchParams.get('scopes') ?? CLOUD_PLATFORM_SCOPE).split(',').filter(Boolean);
    context.tokens.requests.push({ scopes });
    const { token, expiresIn } = context.tokens.issue(scopes);
    sendJson(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' }, FLAVOR);
  } else {
    res.writeHead(404, { 'content-type': 'text/html', ...FLAVOR }).end('Not Found');
  }
}
