import { sign } from 'node:crypto';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** SMTP XOAUTH2 needs the full mail scope; `gmail.send` is for the API only. */
export const GMAIL_SMTP_SCOPE = 'https://mail.google.com/';

export interface ServiceAccountTokenOptions {
  clientEmail: string;
  /** PEM of the service account's RSA key. */
  privateKey: string;
  /** The Workspace user to act for (domain-wide delegation): the JWT `sub`. */
  user: string;
  scope: string;
  tokenUrl?: string;
  timeoutMs?: number;
}

/**
 * Access tokens for a service account acting as one user: a JWT bearer grant (RFC 7523) signed with the
 * account's key. One token serves every connection until shortly before it expires.
 */
export class ServiceAccountTokenSource {
  private readonly options: ServiceAccountTokenOptions;
  private current?: Promise<{ accessToken: string; expiresAt: number }>;

  constructor(options: ServiceAccountTokenOptions) {
    this.options = options;
  }

  /** `renew` forces a new token, after a server refused the current one. */
  async token(renew = false): Promise<{ accessToken: string; expiresAt: number }> {
    const current = this.current && !renew ? await this.current.catch(() => undefined) : undefined;
    // A minute of margin: a token must not expire between being handed out and being used.
    if (current && current.expiresAt - 60_000 > Date.now()) return current;
    this.current = this.fetchToken();
    return this.current;
  }

  private async fetchToken(): Promise<{ accessToken: string; expiresAt: number }> {
    const { clientEmail, privateKey, user, scope, tokenUrl = GOOGLE_TOKEN_URL } = this.options;
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { iss: clientEmail, sub: user, scope, aud: tokenUrl, iat: now, exp: now + 3600 };
    const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}`;
    const assertion = `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), privateKey).toString('base64url')}`;
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok || typeof body.access_token !== 'string') {
      const reason = [body.error, body.error_description].filter(Boolean).join(': ') || 'no access_token';
      throw new Error(`token endpoint answered ${response.status}: ${reason}`);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    return { accessToken: body.access_token, expiresAt: Date.now() + expiresIn * 1000 };
  }
}
