import type { IncomingMessage, ServerResponse } from 'node:http';
import { forward, startPassThrough } from './pass-through.ts';

export interface GateProxy {
  /** `http://127.0.0.1:PORT`: give it to the client instead of the real endpoint (paths are kept). */
  url: string;
  /**
   * The next request that `match` picks is held at the gate: read whole (the client has sent it all), then
   * neither passed on nor answered until `open()`. Other requests pass through.
   */
  hold(match: (req: IncomingMessage) => boolean): void;
  /** Requests held since the last `reset()`. */
  held(): number;
  /**
   * Passes the held requests on to the service now, whether or not their clients are still waiting (a service
   * acts on a request it has, and its answer reaches whoever is still there), and holds no more.
   */
  open(): void;
  /** Opens, and forgets the count. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * An HTTP pass-through in front of a service emulator that holds a chosen request until the test lets it go: a
 * provider that has the request and answers only once something else has happened (another instance has tried,
 * the sender was killed, the store was made to fail), whatever the time that takes on the machine.
 */
export async function startGateProxy(target: string): Promise<GateProxy> {
  let match: ((req: IncomingMessage) => boolean) | undefined;
  let held: { req: IncomingMessage; body: Buffer; res: ServerResponse }[] = [];
  let count = 0;
  const open = () => {
    match = undefined;
    const waiting = held;
    held = [];
    for (const { req, body, res } of waiting) forward(target, req, body, res);
  };
  const proxy = await startPassThrough(target, (req, body, res) => {
    if (!match?.(req)) return false;
    match = undefined;
    count++;
    held.push({ req, body, res });
    return true;
  });
  return {
    url: proxy.url,
    hold: (next) => {
      match = next;
    },
    held: () => count,
    open,
    reset: () => {
      open();
      count = 0;
    },
    close: async () => {
      open();
      await proxy.close();
    },
  };
}
