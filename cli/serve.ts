import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redactSecrets } from '../core/config/secrets.ts';
import type { SendResult } from '../core/contract/adapter.ts';
import type { Mailer } from '../core/mailer.ts';
import { encodeAnswer, type HttpAnswer, isJsonContentType } from '../core/runtime/http-api.ts';
import { type HttpRouteOptions, routeHttpRequest } from '../core/runtime/http-routes.ts';

/** The largest request body taken: the biggest provider message (40 MB) plus base64 and JSON overhead. */
export const MAX_BODY_BYTES = 60 * 1024 * 1024;

export interface LocalApi {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the HTTP API the cloud functions expose: `POST /v1/send`, `POST /v1/events/{source}`, `GET /healthz`;
 * and the web inbox of the captured messages at `/` and `/messages/*` (`cli/inbox/`; `inbox: false` leaves it out).
 */
export async function startLocalApi(
  mailer: Mailer,
  options: { host?: string; port?: number; events?: HttpRouteOptions['events']; inbox?: boolean } = {},
): Promise<LocalApi> {
  const host = options.host ?? '127.0.0.1';
  // Loaded here, not at the top: the CLI's other commands do not pay for the inbox (nor mailparser).
  const inbox = options.inbox === false ? undefined : new (await import('./inbox/routes.ts')).Inbox(mailer, { host });
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
      inbox.handle(req, res).catch(failed(res));
      return;
    }
    route(mailer, req, options.events)
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
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
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

async function route(mailer: Mailer, req: IncomingMessage, events?: HttpRouteOptions['events']): Promise<HttpAnswer> {
  const [path = '/', search = ''] = (req.url ?? '/').split('?');
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
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      ),
      query: Object.fromEntries(new URLSearchParams(search)),
    },
    events ? { events } : {},
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
