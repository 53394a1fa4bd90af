import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HangingProxy {
  /** `http://127.0.0.1:PORT`: give it to the client instead of the real endpoint (paths are kept). */
  url: string;
  /**
   * From now on, takes every request that `match` picks and never answers it: the connection stays open until
   * the client gives up (or the proxy closes). Other requests pass through.
   */
  hang(match: (req: IncomingMessage) => boolean): void;
  /** Passes every request through again (requests already held stay held). */
  clear(): void;
  /** How many requests have been held since the proxy started. */
  held(): number;
  /** How many requests are held now, their client still waiting. */
  holding(): number;
  /** Resolves once every held request has been given up by its client (its connection closed). */
  released(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An HTTP pass-through in front of a service emulator (Azurite, an OCI or AWS emulator) that can hang chosen
 * requests, as a service that has gone quiet does: the request is read, then nothing is ever sent back.
 * Whether a client really gave up (rather than only stopped waiting) shows in `released()`.
 */
export async function startHangingProxy(target: string): Promise<HangingProxy> {
  const upstream = new URL(target);
  let match: ((req: IncomingMessage) => boolean) | undefined;
  let held = 0;
  const open = new Set<IncomingMessage>();
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (open.size > 0) return;
    for (const resolve of waiters) resolve();
    waiters = [];
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (match?.(req)) {
        held++;
        open.add(req);
        req.socket.once('close', () => {
          open.delete(req);
          settle();
        });
        return;
      }
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
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hang: (next) => {
      match = next;
    },
    clear: () => {
      match = undefined;
    },
    held: () => held,
    holding: () => open.size,
    released: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve);
        settle();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
