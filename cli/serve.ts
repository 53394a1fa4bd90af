import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HttpLimits, httpLimits, httpSettings } from '../core/config/http-config.ts';
import { redactSecrets, registerSecret } from '../core/config/secrets.ts';
import type { SendResult } from '../core/contract/adapter.ts';
import { ConfigurationError } from '../core/errors.ts';
import type { Mailer } from '../core/mailer.ts';
import { encodeAnswer, type HttpAnswer, isJsonContentType } from '../core/runtime/http-api.ts';
import {
  BodyCollector,
  type BodyRefusal,
  badLength,
  bodyTooLarge,
  declaredLength,
  firstReservation,
  type InflightBudget,
  inflightBudget,
  releaseWhenIdle,
  serverBusy,
} from '../core/runtime/http-body.ts';
import { guardHttpRequest, type HttpGuardOptions, isLoopbackName, withCors } from '../core/runtime/http-guard.ts';
import { type HttpRequest, type HttpRouteOptions, routeHttpRequest } from '../core/runtime/http-routes.ts';

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
  // Read once, at start: a wrong MAILROUTE_HTTP_MAX_* or http.max* stops serve here, naming the setting.
  const limits = httpLimits(mailer.config);
  const budget = inflightBudget(limits.maxInflightBytes);
  // What a burst of large bodies held goes back to the system once none is in flight (not at the next burst).
  const stopReleasing = releaseWhenIdle(budget);
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (inbox && isInboxPath(path)) {
      const refused = guardHttpRequest(
        { method: req.method ?? 'GET', path, headers: headersOf(req) },
        { ...guard, inbox: true },
      );
      if (refused) {
        req.resume();
        write(res, refused, unread(req) && expectsContinue(req));
        return;
      }
      if (expectsContinue(req)) res.writeContinue();
      inbox.handle(req, res).catch(failed(res));
      return;
    }
    const routing = { guard, limits, budget, ...(options.events ? { events: options.events } : {}) };
    route(mailer, req, res, routing)
      .then(async (routed) => {
        // The inbox shows each captured message's route and attempts: what the send result says.
        if (routed && inbox && path === '/v1/send' && routed.answer.status === 200) {
          const result = (routed.answer.body as { result?: SendResult }).result;
          if (result) await inbox.recordSend(result).catch(() => {});
        }
        return routed;
      })
      .then((routed) => {
        // Undefined: the client went away before its body was whole, and there is no one to answer.
        if (routed) write(res, routed.answer, routed.close);
      }, failed(res));
  };
  const server = createServer(handle);
  // `Expect: 100-continue`: the client sends its body only once asked to, so a body refused by its Content-Length
  // or the budget is never sent at all.
  server.on('checkContinue', handle);
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
        stopReleasing();
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

interface ServeRouting extends HttpRouteOptions {
  limits: HttpLimits;
  budget: InflightBudget;
}

/** An answer, and whether the connection is closed after it (a body left unread, or read only in part). */
interface Routed {
  answer: HttpAnswer;
  close?: boolean;
}

const expectsContinue = (req: IncomingMessage): boolean => /^\s*100-continue\s*$/i.test(req.headers.expect ?? '');

/**
 * Whether the request still has a body coming that this server will not read: then the answer closes the
 * connection, so that the client stops sending (and, having sent `Expect: 100-continue`, sends nothing).
 */
const unread = (req: IncomingMessage): boolean =>
  !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);

/**
 * The guard, then the body held to the limits before any of it is read: a Content-Length over
 * `http.maxBodyBytes` is answered 413 at once, and one the in-flight budget has no room for 503 with Retry-After,
 * the connection closed in both cases (the client stops sending). A body without Content-Length is reserved and
 * read as it arrives, and cut at the limit or the budget the same way. What the request reserved is released when
 * it ends, however it ends: answered, refused, or abandoned by the client mid-body.
 */
async function route(
  mailer: Mailer,
  req: IncomingMessage,
  res: ServerResponse,
  options: ServeRouting,
): Promise<Routed | undefined> {
  const { limits, budget, ...routing } = options;
  const [path = '/', search = ''] = (req.url ?? '/').split('?');
  const headers = headersOf(req);
  // Refused before the body is read: a caller without the token, or a page of another site, costs no buffering.
  const guarded = { method: req.method ?? 'GET', path, headers };
  const refused = guardHttpRequest(guarded, routing.guard);
  // A body refused for its size is not read: the connection closes after the answer (what arrives meanwhile is let
  // through and dropped, never buffered). One refused by the guard is read and dropped as before, unless its
  // client waits for 100 Continue: it never sends the body, so the connection cannot be used again either.
  const refuse = (answer: HttpAnswer, bySize = true): Routed => {
    const close = unread(req) && (bySize || expectsContinue(req));
    req.resume();
    return { answer: withCors(answer, guarded, routing.guard), close };
  };
  if (refused) return refuse(refused, false);
  let text = '';
  if (req.method === 'POST') {
    const declared = declaredLength(headers);
    if (Number.isNaN(declared)) return refuse(badLength(headers['content-length']));
    if (declared !== undefined && declared > limits.maxBodyBytes) {
      return refuse(bodyTooLarge(limits, declared, 'content-length'));
    }
    const reservation = budget.reserve(firstReservation(limits, declared));
    if (!reservation) return refuse(serverBusy(limits, budget, firstReservation(limits, declared)));
    try {
      if (expectsContinue(req)) res.writeContinue();
      const collector = new BodyCollector({ limits, budget, reservation, declared });
      const refusal = await readBody(req, collector);
      if (refusal === 'aborted') return undefined;
      if (refusal) return refuse(refusal.answer);
      text = collector.text();
      // The same routes and answers as every cloud function's HTTP trigger; locally there is no queue.
      const admitted = { ...routing, bodyAdmitted: true };
      return { answer: await routeHttpRequest(mailer, request(req, path, search, headers, takeText()), admitted) };
    } finally {
      reservation.release();
    }
  }
  req.resume();
  return { answer: await routeHttpRequest(mailer, request(req, path, search, headers, ''), { ...routing }) };

  // The text goes into the request alone, which the router empties once it has parsed it: no frame here keeps it.
  function takeText(): string {
    const taken = text;
    text = '';
    return taken;
  }
}

function request(
  req: IncomingMessage,
  path: string,
  search: string,
  headers: Record<string, string | undefined>,
  body: string,
): HttpRequest {
  return { method: req.method ?? 'GET', path, body, headers, query: Object.fromEntries(new URLSearchParams(search)) };
}

/**
 * Feeds the body to the collector as it arrives: undefined once whole, the collector's refusal at the first chunk
 * over the limit or the budget (the rest is then let through and dropped), `aborted` when the client went away.
 */
function readBody(req: IncomingMessage, collector: BodyCollector): Promise<BodyRefusal | 'aborted' | undefined> {
  return new Promise((resolve) => {
    const settle = (outcome: BodyRefusal | 'aborted' | undefined) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      const refusal = collector.push(chunk);
      if (refusal) settle(refusal);
    };
    const onEnd = () => settle(undefined);
    // `close` before `end`: the client reset or closed the connection mid-body.
    const onClose = () => settle(req.complete ? undefined : 'aborted');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onClose);
  });
}

/**
 * JSON with a final newline; a string body of another content type (the unsubscribe page) as it is. `close`: the
 * connection is closed after it (`Connection: close`), a body having been left unread: see `lingerThenEnd`.
 */
function write(res: ServerResponse, answer: HttpAnswer, close = false): void {
  if (res.destroyed) return;
  const { status, headers, body, contentType } = encodeAnswer(answer);
  const text = isJsonContentType(contentType) ? `${body}\n` : body;
  if (!close) {
    res.writeHead(status, headers);
    res.end(text);
    return;
  }
  // Whole (its length given), so the client can read it while it is still sending.
  res.writeHead(status, { ...headers, connection: 'close', 'content-length': String(Buffer.byteLength(text)) });
  res.write(text);
  lingerThenEnd(res);
}

/** How much of a refused body is still let through, and for how long, before the connection is cut. */
const LINGER_BYTES = 4 * 1024 * 1024;
const LINGER_MS = 2000;

/**
 * Closes the connection of a refused body without losing the answer. Cutting it at once would reset it while
 * the client is still sending (what it sent is unread), and a client busy writing may then never read the 413 or
 * 503 already sent. So what still arrives is let through and dropped, never kept, until the client stops or
 * closes, or for at most `LINGER_BYTES` and `LINGER_MS`; then the answer is ended and the connection closed. A
 * client that waits for `100 Continue` sends nothing more: closed at once.
 */
function lingerThenEnd(res: ServerResponse): void {
  const req = res.req;
  if (req.complete || expectsContinue(req)) {
    res.end();
    return;
  }
  let dropped = 0;
  const end = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', end);
    req.off('close', end);
    res.end();
  };
  const onData = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) end();
  };
  const timer = setTimeout(end, LINGER_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', end);
  req.once('close', end);
  req.resume();
}
