import { randomBytes } from 'node:crypto';
import type { Grant } from './jwt-assertion.ts';

export interface IssuedToken extends Grant {
  /** Epoch milliseconds. */
  expiresAt: number;
}

export type TokenLookup = { state: 'valid'; token: IssuedToken } | { state: 'expired' | 'unknown' };

/** Opaque bearer tokens, as Google issues them: nothing in the token itself, everything server-side. */
export class TokenStore {
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly ttlSeconds: number;

  constructor(ttlSeconds: number) {
    this.ttlSeconds = ttlSeconds;
  }

  issue(grant: Grant, now = Date.now()): { accessToken: string; expiresIn: number } {
    // The `ya29.` prefix is what Google's access tokens look like, so log redaction rules can be tested.
    const accessToken = `ya29.emu-${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, { ...grant, expiresAt: now + this.ttlSeconds * 1000 });
    return { accessToken, expiresIn: this.ttlSeconds };
  }

  lookup(accessToken: string, now = Date.now()): TokenLookup {
    const token = this.tokens.get(accessToken);
    if (!token) return { state: 'unknown' };
    return token.expiresAt <= now ? { state: 'expired' } : { state: 'valid', token };
  }

  /** Expires every issued token server-side while clients still hold them as valid. */
  expireAll(now = Date.now()): void {
    for (const token of this.tokens.values()) token.expiresAt = Math.min(token.expiresAt, now);
  }
}
