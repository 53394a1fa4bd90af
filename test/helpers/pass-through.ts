import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answers (or holds) a request itself and returns true, or returns false to let it through to the target. */
export type Intercept = (req: IncomingMessage, body: Buffer, res: ServerResponse) => boolean;

export interface PassThrough {
  /** `http://127.0.0.1:PORT`: give it to the client instead of the real endpoint (paths are kept). */
  url: string;
  close(): Promise<void>;
}

/**
 * An HTTP pass-through on loopback in front of an emulator, reading each request whole and handing it to
 * `intercept` first: the one piece the fault proxies of the tests (a store that hiccups, a queue that hangs) share.
 */
export async function startPassThrough(target: string, intercept: Intercept): Promise<PassThrough> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (intercept(req, body, res)) return;
      forward(target, req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Sends a request read whole to `target` and its answer back to `res`. The request goes out even when its client
 * has gone away meanwhile (then the answer is dropped), as a service that has a request still acts on it.
 */
export function forward(target: string, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const upstream = new URL(target);
  const forwarded = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      // The Host header is kept: a SigV4 or OCI signature covers it.
      headers: { ...req.headers, 'content-length': String(body.length) },
    },
    (answer) => {
      if (res.destroyed) {
        answer.resume();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forwarded.on('error', () => res.destroy());
  forwarded.end(body);
}
