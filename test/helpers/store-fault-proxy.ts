import type { IncomingHttpHeaders } from 'node:http';
import { startPassThrough } from './pass-through.ts';

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
  let fault: StoreFault | undefined;
  let failed = 0;
  const proxy = await startPassThrough(target, (req, body, res) => {
    if (!fault || fault.count <= 0 || !fault.match(req.headers, body.toString('utf8'))) return false;
    fault.count--;
    failed++;
    res.writeHead(fault.status, { ...fault.headers, 'content-length': Buffer.byteLength(fault.body) });
    res.end(fault.body);
    return true;
  });
  return {
    url: proxy.url,
    fail: (next) => {
      fault = { ...next };
      failed = 0;
    },
    failed: () => failed,
    clear: () => {
      fault = undefined;
    },
    close: proxy.close,
  };
}

/** The idempotency record's completing write, in a DynamoDB PutItem or an Azure Table entity update. */
export function completesAClaim(_headers: IncomingHttpHeaders, body: string): boolean {
  return /status\\+":\\+"completed/.test(body);
}
