import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../common/faults.ts';
import { authenticationError, type GoogleError, sendJson, sendOAuthError } from './google-errors.ts';
import { type AssertionPolicy, checkAssertion } from './jwt-assertion.ts';
import type { IssuedToken, TokenStore } from './token-store.ts';

export const GMAIL_SEND_SCOPE = 'https://www.googleapis.com/auth/gmail.send';
/** Every scope the discovery document lists for users.messages.send. */
const SEND_METHOD_SCOPES = new Set([
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
  'https://www.googleapis.com/auth/gmail.compose',
  'https://www.googleapis.com/auth/gmail.modify',
  GMAIL_SEND_SCOPE,
]);

/** The OAuth 2.0 token endpoint, JWT-bearer grant only (RFC 7523), as service accounts use it. */
export async function handleTokenRequest(
  policy: AssertionPolicy,
  tokens: TokenStore,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  const grantType = form.get('grant_type');
  if (grantType !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    return sendOAuthError(res, 400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
  }
  const assertion = form.get('assertion');
  if (!assertion) return sendOAuthError(res, 400, 'invalid_request', 'Missing required parameter: assertion');
  const result = checkAssertion(assertion, policy, Math.floor(Date.now() / 1000));
  if (!result.ok) return sendOAuthError(res, result.status, result.error, result.description);
  const { accessToken, expiresIn } = tokens.issue(result.grant);
  sendJson(
    res,
    200,
    { access_token: accessToken, expires_in: expiresIn, token_type: 'Bearer' },
    { 'cache-control': 'no-store' },
  );
}

/** The token a request carries, or the error Google answers when it is missing, unknown, expired or too narrow. */
export function authenticate(tokens: TokenStore, req: IncomingMessage, url: URL): IssuedToken | GoogleError {
  const header = req.headers.authorization;
  // Google also takes the token as the `access_token` query parameter (a discovery document system parameter).
  const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? url.searchParams.get('access_token') ?? undefined;
  if (!bearer) return authenticationError(true);
  const lookup = tokens.lookup(bearer);
  if (lookup.state !== 'valid') return authenticationError(false);
  const token = lookup.token;
  if (!token.scopes.some((scope) => SEND_METHOD_SCOPES.has(scope))) {
    return {
      status: 403,
      message: 'Request had insufficient authentication scopes.',
      item: { reason: 'insufficientPermissions', message: 'Insufficient Permission' },
    };
  }
  return token;
}
