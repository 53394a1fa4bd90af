import type { IncomingMessage } from 'node:http';
import { startPassThrough } from './pass-through.ts';

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
  let match: ((req: IncomingMessage) => boolean) | undefined;
  let held = 0;
  const open = new Set<IncomingMessage>();
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (open.size > 0) return;
    for (const resolve of waiters) resolve();
    waiters = [];
  };
  const proxy = await startPassThrough(target, (req) => {
    if (!match?.(req)) return false;
    held++;
    open.add(req);
    req.socket.once('close', () => {
      open.delete(req);
      settle();
    });
    return true;
  });
  return {
    url: proxy.url,
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
    close: proxy.close,
  };
}
