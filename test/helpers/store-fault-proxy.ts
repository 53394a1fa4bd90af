import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StoreFault {
  /** Which requests fail: given the request's headers and body. */
  match(headers: IncomingHttpHeaders, body: string): boolean;
  /** Fail this many matching requests, then pass them through again. */
  count: number;
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface StoreFaultProxy {
  /** `http://127.0.0.1:PORT`: give it to the store instead of the real endpoint. */
  url: string;
  /** Arms a fault; `failed()` counts the requests it has failed since. */
  fail(fault: StoreFault): void;
  failed(): number;
  clear(): void;
  close(): Promise<void>;
}

/**
 * An HTTP pass-through in front of a store emulator (dynalite, Azurite) that answers chosen requests with the
 * store's own throttling or busy error, as DynamoDB and Azure Storage do under load: a store that hiccups.
 */
export async function startStoreFaultProxy(target: string): Promise<StoreFaultProxy> {
  const upstream = new URL(target);
  let fault: StoreFault | undefined;
  let failed = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (fault && fault.count > 0 && fault.match(req.headers, body.toString('utf8'))) {
        fault.count--;
        failed++;
        res.writeHead(fault.status, { ...fault.headers, 'content-length': Buffer.byteLength(fault.body) });
        res.end(fault.body);
        return;
      }
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          // The Host header is kept: a SigV4 signature covers it.
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
    fail: (next) => {
      fault = { ...next };
      failed = 0;
    },
    failed: () => failed,
    clear: () => {
      fault = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The idempotency record's completing write, in a DynamoDB PutItem or an Azure Table entity update. */
export function completesAClaim(_headers: IncomingHttpHeaders, body: string): boolean {
  return /status\\+":\\+"completed/.test(body);
}
