import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../common/faults.ts';
import { authenticationError, type GoogleError, sendJson, sendOAuthError } from './google-errors.ts';
import { type AssertionPolicy, checkAssertion } from './jwt-assertion.ts';
import type { IssuedToken, TokenStore } from './token-store.ts';

export const GMAIL_SEND_SCOPE = 'https://www.googleapis.com/auth/gmail.send';
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
export const GMAIL_METADATA_SCOPE = 'https://www.googleapis.com/auth/gmail.metadata';
export const GMAIL_INSERT_SCOPE = 'https://www.googleapis.com/auth/gmail.insert';
export const GMAIL_MODIFY_SCOPE = 'https://www.googleapis.com/auth/gmail.modify';
const FULL_MAIL_SCOPE = 'https://mail.google.com/';
/** Every scope the discovery document lists for users.messages.send. */
export const SEND_METHOD_SCOPES: ReadonlySet<string> = new Set([
  FULL_MAIL_SCOPE,
  'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
  'https://www.googleapis.com/auth/gmail.compose',
  GMAIL_MODIFY_SCOPE,
  GMAIL_SEND_SCOPE,
]);
/** Every scope the discovery document lists for users.messages.list (gmail.metadata only without `q`). */
export const LIST_METHOD_SCOPES: ReadonlySet<string> = new Set([
  FULL_MAIL_SCOPE,
  GMAIL_METADATA_SCOPE,
  GMAIL_MODIFY_SCOPE,
  GMAIL_READONLY_SCOPE,
]);
/** Every scope the discovery document lists for users.messages.get (gmail.metadata not with format full or raw). */
export const GET_METHOD_SCOPES: ReadonlySet<string> = new Set([
  FULL_MAIL_SCOPE,
  'https://www.googleapis.com/auth/gmail.addons.current.message.action',
  'https://www.googleapis.com/auth/gmail.addons.current.message.metadata',
  'https://www.googleapis.com/auth/gmail.addons.current.message.readonly',
  GMAIL_METADATA_SCOPE,
  GMAIL_MODIFY_SCOPE,
  GMAIL_READONLY_SCOPE,
]);
/** Every scope the discovery document lists for users.messages.insert and users.messages.import. */
export const INSERT_METHOD_SCOPES: ReadonlySet<string> = new Set([
  FULL_MAIL_SCOPE,
  GMAIL_INSERT_SCOPE,
  GMAIL_MODIFY_SCOPE,
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
export function authenticate(
  tokens: TokenStore,
  req: IncomingMessage,
  url: URL,
  methodScopes: ReadonlySet<string>,
): IssuedToken | GoogleError {
  const header = req.headers.authorization;
  // Google also takes the token as the `access_token` query parameter (a discovery document system parameter).
  const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? url.searchParams.get('access_token') ?? undefined;
  if (!bearer) return authenticationError(true);
  const lookup = tokens.lookup(bearer);
  if (lookup.state !== 'valid') return authenticationError(false);
  const token = lookup.token;
  if (!token.scopes.some((scope) => methodScopes.has(scope))) return insufficientScopes();
  return token;
}

/** Google's answer to a valid token without any of the method's scopes (body as seen from gmail.googleapis.com). */
function insufficientScopes(): GoogleError {
  return {
    status: 403,
    message: 'Request had insufficient authentication scopes.',
    item: { reason: 'insufficientPermissions', message: 'Insufficient Permission' },
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
        domain: 'googleapis.com',
        metadata: { service: 'gmail.googleapis.com' },
      },
    ],
  };
}

/**
 * The token, when it may act on `userId`'s mailbox with one of `methodScopes`: a service account must impersonate
 * a Workspace user (`sub`), and the path names that user or `me`.
 */
export function authorizeMailbox(
  tokens: TokenStore,
  req: IncomingMessage,
  url: URL,
  userId: string,
  methodScopes: ReadonlySet<string>,
): (IssuedToken & { subject: string }) | GoogleError {
  const token = authenticate(tokens, req, url, methodScopes);
  if ('status' in token) return token;
  if (!token.subject) {
    // What Gmail answers a service account that calls it without impersonating a Workspace user.
    return {
      status: 400,
      message: 'Precondition check failed.',
      item: { reason: 'failedPrecondition' },
      rpcStatus: 'FAILED_PRECONDITION',
    };
  }
  if (userId !== 'me' && userId.toLowerCase() !== token.subject.toLowerCase()) {
    return { status: 403, message: `Delegation denied for ${token.subject}`, item: { reason: 'forbidden' } };
  }
  return { ...token, subject: token.subject };
}
