import { createHash, timingSafeEqual } from 'node:crypto';
import { UNSUBSCRIBE_PATH } from '../events/unsubscribe.ts';
import type { HttpAnswer } from './http-api.ts';

/**
 * What the server says about where a request arrived, and what the configuration allows
 * (`publicHosts`, `corsOrigins`: core/config/http-config.ts `httpSettings`).
 */
export interface HttpGuardOptions {
  /**
   * The request reached a server of ours directly (`mailroute serve`), not through a platform's front door (API
   * Gateway, a function URL, Azure, Cloud Run, OCI's gateway, which own the host name): then its `Host` must be a
   * loopback name, one of `hosts` or a public host, else 421 (DNS rebinding).
   */
  local?: boolean;
  /** Hosts accepted besides loopback names and `publicHosts` (the address `serve` listens on). */
  hosts?: readonly string[];
  publicHosts?: readonly string[];
  corsOrigins?: readonly string[];
  /**
   * `MAILROUTE_API_TOKEN`: when set, every request but `GET /healthz` and the routes with their own credential
   * (`/v1/events/*`, `/v1/unsubscribe`) must carry `Authorization: Bearer <token>`, else 401.
   */
  token?: string;
  /**
   * The web inbox's pages (cli/inbox/): the token may also come as the password of HTTP Basic authentication (any
   * user name), which a browser asks for once and then sends with each of the inbox's requests, its live stream
   * included; a request without it is answered with a Basic challenge. Its Origin is left to the inbox, whose
   * deletes must come from its own page (`Sec-Fetch-Site`, `Origin` or the page's token), its pages being read only.
   */
  inbox?: boolean;
}

/** The routes whose caller proves itself in the request (a signature, the webhook secret, a signed token). */
export const ownCredential = (path: string): boolean => path.startsWith('/v1/events/') || path === UNSUBSCRIBE_PATH;

/** What the guard looks at: the request's method, path and (lower-case) headers. */
export interface GuardedRequest {
  method: string;
  path: string;
  headers?: Record<string, string | undefined>;
}

const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: { 'cache-control': 'no-store', ...headers },
  body: { ok: false, error: { code, message } },
});

/**
 * The rules every HTTP entry applies before routing (`routeHttpRequest`, and `serve` for the web inbox), the answer
 * of the first one broken, or undefined:
 * 1. `local`: the `Host` is a loopback name (localhost, *.localhost, 127.x.x.x, [::1], any port), one of `hosts`
 *    or a public host, else 421 MISDIRECTED: a page whose DNS name turns to 127.0.0.1 is not answered.
 * 2. The routes with their own credential (`/v1/events/*`, `/v1/unsubscribe`) stop here: they are called from other
 *    sites by design, in their own content types (SNS `text/plain`, a DSN `message/rfc822`, a form).
 * 3. An `Origin` other than the server's own (the `Host` in http or https) or a configured CORS origin: 403
 *    FORBIDDEN_ORIGIN. `Origin: null` (a sandboxed frame, a file) is foreign too.
 * 4. The CORS preflight of a configured origin is answered 204 (it carries no credential).
 * 5. The token, when set, on everything but `GET /healthz`: 401 UNAUTHORIZED, compared in constant time.
 * 6. `POST /v1/send` takes `application/json` only (UTF-8): 415 UNSUPPORTED_MEDIA_TYPE, so that no form and no
 *    `no-cors` fetch of another page can carry a message (a browser sends those without asking the server).
 */
export function guardHttpRequest(request: GuardedRequest, options: HttpGuardOptions = {}): HttpAnswer | undefined {
  const headers = request.headers ?? {};
  const host = headers.host?.trim().toLowerCase();
  if (options.local && !hostAllowed(host, options)) {
    // Neither the configured hosts nor origins are listed: a rebinding page can read this answer.
    return refuse(
      421,
      'MISDIRECTED',
      `this server answers to loopback names (localhost, 127.0.0.1, [::1]) and its public hosts only, not to Host ${host === undefined ? '(none)' : JSON.stringify(host)}: add the name it is reached by to MAILROUTE_PUBLIC_HOSTS (or http.publicHosts)`,
    );
  }
  if (ownCredential(request.path)) return undefined;

  const origin = headers.origin;
  // The inbox has its own rule, for what changes anything (a delete comes from its page: cli/inbox/routes.ts).
  if (!options.inbox && origin !== undefined && !sameOrigin(origin, host) && !corsAllowed(origin, options)) {
    return refuse(
      403,
      'FORBIDDEN_ORIGIN',
      `a request from ${JSON.stringify(origin)} is refused: only this server's own pages and its CORS origins may call it (add an origin to MAILROUTE_CORS_ORIGINS or http.corsOrigins)`,
    );
  }
  if (request.method === 'OPTIONS' && origin !== undefined && headers['access-control-request-method']) {
    if (corsAllowed(origin, options)) return { status: 204, headers: preflightHeaders(origin), body: '' };
  }

  const health = request.path === '/healthz' && request.method === 'GET';
  if (options.token && !health && !tokenGiven(headers.authorization, options.token, options.inbox === true)) {
    return refuse(
      401,
      'UNAUTHORIZED',
      options.inbox
        ? 'the web inbox asks for the API token (MAILROUTE_API_TOKEN) as the password, with any user name'
        : 'this server requires Authorization: Bearer <MAILROUTE_API_TOKEN>',
      {
        'www-authenticate': options.inbox
          ? 'Basic realm="mailroute inbox", charset="UTF-8"'
          : `Bearer realm="mailroute"${headers.authorization ? ', error="invalid_token"' : ''}`,
      },
    );
  }

  if (request.path === '/v1/send' && request.method === 'POST') {
    const type = headers['content-type'];
    if (!isJsonBody(type)) {
      return refuse(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `POST /v1/send takes Content-Type: application/json only, not ${type === undefined ? 'a body without a content type' : JSON.stringify(type)}`,
        { accept: 'application/json', 'accept-post': 'application/json' },
      );
    }
  }
  return undefined;
}

/**
 * The headers a configured CORS origin gets on an answer (none for any other request); `vary: origin` whenever
 * CORS is configured, so that a cache never gives one origin's answer to another.
 */
export function corsHeaders(request: GuardedRequest, options: HttpGuardOptions = {}): Record<string, string> {
  if (!options.corsOrigins?.length || ownCredential(request.path)) return {};
  const origin = request.headers?.origin;
  if (origin === undefined || !corsAllowed(origin, options)) return { vary: 'origin' };
  return { 'access-control-allow-origin': origin, vary: 'origin' };
}

/** An answer with the CORS headers of its request: a configured origin can read refusals too (a 401, a 415). */
export function withCors(answer: HttpAnswer, request: GuardedRequest, options: HttpGuardOptions = {}): HttpAnswer {
  const cors = corsHeaders(request, options);
  return Object.keys(cors).length ? { ...answer, headers: { ...answer.headers, ...cors } } : answer;
}

function preflightHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'authorization, content-type, prefer',
    'access-control-max-age': '600',
    vary: 'origin',
    'cache-control': 'no-store',
    // No body: a string under a type other than JSON is written as it is (encodeAnswer).
    'content-type': 'text/plain; charset=utf-8',
  };
}

/** `application/json`, with no parameter but a UTF-8 charset (the body is read as UTF-8). */
export function isJsonBody(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((p) => p === '' || /^charset="?utf-?8"?$/.test(p));
}

function corsAllowed(origin: string, options: HttpGuardOptions): boolean {
  return options.corsOrigins?.includes(origin) ?? false;
}

/** Whether `Origin` is the server itself: the host and port of the `Host` header, in http or https. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || origin === 'null') return false;
  const own = (scheme: string) => {
    try {
      return new URL(`${scheme}://${host}`).origin;
    } catch {
      return undefined;
    }
  };
  let given: string;
  try {
    given = new URL(origin).origin;
  } catch {
    return false;
  }
  return given === own('http') || given === own('https');
}

/** The name part of a Host value: `[::1]` of `[::1]:3025`, `localhost` of `localhost:3025`. */
export function hostName(host: string): string {
  const value = host.toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  return value.replace(/:\d*$/, '');
}

/** Whether a host name (no port) is this machine whatever any DNS says: localhost, *.localhost, 127/8, ::1. */
export function isLoopbackName(name: string): boolean {
  const value = name.toLowerCase();
  return (
    value === 'localhost' ||
    value.endsWith('.localhost') ||
    /^127(?:\.\d{1,3}){3}$/.test(value) ||
    value === '::1' ||
    value === '[::1]'
  );
}

function hostAllowed(host: string | undefined, options: HttpGuardOptions): boolean {
  if (!host) return false;
  if (isLoopbackName(hostName(host))) return true;
  // An entry without a port matches any port; one with a port, that port only.
  return [...(options.hosts ?? []), ...(options.publicHosts ?? [])].some((entry) => {
    const allowed = entry.toLowerCase();
    return allowed === host || (hostName(allowed) === allowed && hostName(host) === allowed);
  });
}

/** `Authorization: Bearer <token>` (or, for the inbox, Basic with the token as password), in constant time. */
function tokenGiven(authorization: string | undefined, token: string, basic: boolean): boolean {
  const match = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return false;
  let given = match[2]!;
  if (match[1]!.toLowerCase() === 'basic') {
    if (!basic) return false;
    const decoded = Buffer.from(given, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    given = decoded.slice(colon + 1);
  }
  return sameSecret(given, token);
}

/** Compares hashes of both, so that neither the length nor any prefix of the token shows in the time taken. */
export function sameSecret(given: string, secret: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(secret));
}
