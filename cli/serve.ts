import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpSettings } from '../core/config/http-config.ts';
import { redactSecrets, registerSecret } from '../core/config/secrets.ts';
import type { SendResult } from '../core/contract/adapter.ts';
import { ConfigurationError } from '../core/errors.ts';
import type { Mailer } from '../core/mailer.ts';
import { encodeAnswer, type HttpAnswer, isJsonContentType } from '../core/runtime/http-api.ts';
import { guardHttpRequest, type HttpGuardOptions, isLoopbackName, withCors } from '../core/runtime/http-guard.ts';
import { type HttpRouteOptions, routeHttpRequest } from '../core/runtime/http-routes.ts';

/** The largest request body taken: the biggest provider message (40 MB) plus base64 and JSON overhead. */
export const MAX_BODY_BYTES = 60 * 1024 * 1024;

export interface LocalApi {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** The shortest `MAILROUTE_API_TOKEN` taken: anything shorter could be guessed by whoever can reach the port. */
export const MIN_TOKEN_LENGTH = 16;

export interface LocalApiOptions {
  host?: string;
  port?: number;
  events?: HttpRouteOptions['events'];
  inbox?: boolean;
  /**
   * The bearer token every request but `GET /healthz`, the events and the unsubscribe links must carry; default
   * `MAILROUTE_API_TOKEN`. Required to listen on anything but loopback.
   */
  apiToken?: string;
}

/**
 * Why `serve` may not listen on `host` with this token, as a CONFIGURATION error naming `MAILROUTE_API_TOKEN`:
 * beyond loopback, anyone who can reach the port could send as any sender through the configured providers.
 */
export function checkExposure(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigurationError(
      `MAILROUTE_API_TOKEN is ${token.length} characters long: use at least ${MIN_TOKEN_LENGTH} random ones (openssl rand -hex 32)`,
      { issues: [{ path: 'MAILROUTE_API_TOKEN', message: `must be at least ${MIN_TOKEN_LENGTH} characters` }] },
    );
  }
  if (token === undefined && !isLoopbackName(host)) {
    const message = `serve --host ${host} listens beyond this machine, where anyone who reaches the port could send mail through your providers: set MAILROUTE_API_TOKEN (at least ${MIN_TOKEN_LENGTH} random characters, e.g. openssl rand -hex 32) so that only callers sending Authorization: Bearer <token> can, or listen on 127.0.0.1`;
    throw new ConfigurationError(message, {
      issues: [{ path: 'MAILROUTE_API_TOKEN', message: `is required to listen on ${host} (not loopback)` }],
    });
  }
}

/**
 * Serves the HTTP API the cloud functions expose: `POST /v1/send`, `POST /v1/events/{source}`, `GET /healthz`;
 * and the web inbox of the captured messages at `/` and `/messages/*` (`cli/inbox/`; `inbox: false` leaves it out).
 * Every request passes core/runtime/http-guard.ts first: a loopback or configured Host, no foreign Origin, the API
 * token when one is set (the inbox takes it as a Basic password), JSON bodies only for a send.
 */
export async function startLocalApi(mailer: Mailer, options: LocalApiOptions = {}): Promise<LocalApi> {
  const host = options.host ?? '127.0.0.1';
  const token = (options.apiToken ?? process.env.MAILROUTE_API_TOKEN) || undefined;
  checkExposure(host, token);
  if (token) registerSecret(token);
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  const bare = host.replace(/^\[|\]$/g, '');
  const guard: HttpGuardOptions = {
    local: true,
    // The address listened on is a name it is reached by: an IP literal (which no DNS rebinding can take) or the
    // name the user gave.
    hosts: wildcard || isLoopbackName(host) ? [] : [bare.includes(':') ? `[${bare}]` : bare],
    ...httpSettings(mailer.config),
    ...(token ? { token } : {}),
  };
  // Loaded here, not at the top: the CLI's other commands do not pay for the inbox (nor mailparser).
  const inbox =
    options.inbox === false
      ? undefined
      : new (await import('./inbox/routes.ts')).Inbox(mailer, { host, hostChecked: true });
  const failed = (res: ServerResponse) => (error: Error) => {
    process.stderr.write(
      `${redactSecrets(JSON.stringify({ level: 'error', msg: 'request failed', error: error.stack ?? String(error) }))}\n`,
    );
    if (res.headersSent) res.destroy();
    else {
      write(res, {
        status: 500,
        headers: {},
        body: { ok: false, error: { code: 'INTERNAL', message: 'internal error' } },
      });
    }
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (inbox && isInboxPath(path)) {
      const refused = guardHttpRequest(
        { method: req.method ?? 'GET', path, headers: headersOf(req) },
        { ...guard, inbox: true },
      );
      if (refused) {
        req.resume();
        write(res, refused);
        return;
      }
      inbox.handle(req, res).catch(failed(res));
      return;
    }
    route(mailer, req, { guard, ...(options.events ? { events: options.events } : {}) })
      .then(async (answer) => {
        // The inbox shows each captured message's route and attempts: what the send result says.
        if (inbox && path === '/v1/send' && answer.status === 200) {
          const result = (answer.body as { result?: SendResult }).result;
          if (result) await inbox.recordSend(result).catch(() => {});
        }
        return answer;
      })
      .then((answer) => write(res, answer), failed(res));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // On every address: the URL names loopback, a Host the guard takes.
  const reach = wildcard ? (host === '0.0.0.0' ? '127.0.0.1' : '::1') : bare;
  return {
    server,
    url: `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // The inbox's live streams stay open until ended; idle keep-alive connections are closed with the server.
        inbox?.close();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** The inbox's paths; every other one (`/v1/*`, `/healthz`, an unknown path) is the HTTP API's, as in the cloud. */
function isInboxPath(path: string): boolean {
  return (
    path === '/' ||
    path === '/events' ||
    path === '/inbox.js' ||
    path === '/inbox.css' ||
    path === '/messages' ||
    path.startsWith('/messages/')
  );
}

const headersOf = (req: IncomingMessage): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));

async function route(mailer: Mailer, req: IncomingMessage, options: HttpRouteOptions): Promise<HttpAnswer> {
  const [path = '/', search = ''] = (req.url ?? '/').split('?');
  // Refused before the body is read: a caller without the token, or a page of another site, costs no buffering.
  const guarded = { method: req.method ?? 'GET', path, headers: headersOf(req) };
  const refused = guardHttpRequest(guarded, options.guard);
  if (refused) {
    req.resume();
    return withCors(refused, guarded, options.guard);
  }
  const body = req.method === 'POST' ? await readBody(req) : '';
  if (body === undefined) {
    return {
      status: 413,
      headers: {},
      body: {
        ok: false,
        error: { code: 'BODY_TOO_LARGE', message: `the request body is over the limit of ${MAX_BODY_BYTES} bytes` },
      },
    };
  }
  // The same routes and answers as every cloud function's HTTP trigger; locally there is no queue to enqueue on.
  return routeHttpRequest(
    mailer,
    {
      method: req.method ?? 'GET',
      path,
      body,
      headers: headersOf(req),
      query: Object.fromEntries(new URLSearchParams(search)),
    },
    options,
  );
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** JSON with a final newline; a string body of another content type (the unsubscribe page) as it is. */
function write(res: ServerResponse, answer: HttpAnswer): void {
  const { status, headers, body, contentType } = encodeAnswer(answer);
  res.writeHead(status, headers);
  res.end(isJsonContentType(contentType) ? `${body}\n` : body);
}
