import { AsyncLocalStorage } from 'node:async_hooks';

/** How long setting up a connection to an API endpoint (DNS, TCP and TLS) may take by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/** The code of a connection that was not set up in time; errno-like, so it survives SDKs that keep only `code`. */
export const CONNECT_TIMEOUT_CODE = 'ECONNECTTIMEOUT';

/** undici's (Node's fetch) code for the same thing: its own connect timeout also covers TCP and TLS. */
const UNDICI_CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';

/** A connection (TCP, then TLS for https) that was not ready in time: no request can have gone over it. */
export class ConnectTimeoutError extends Error {
  readonly code = CONNECT_TIMEOUT_CODE;
  readonly timeoutMs: number;
  constructor(timeoutMs: number, target = 'the endpoint') {
    super(`no connection to ${target} within ${timeoutMs} ms (DNS, TCP and TLS): nothing was sent`);
    this.name = 'ConnectTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * What the connections of one SDK call did: how many were opened for it, how many got ready (connected, and
 * TLS done for https), and whether one ran out of time. The SDKs keep none of this in their errors, so the
 * adapter asks the watch whether anything can have left: a call whose own connections never got ready wrote
 * nothing. A call that reused a kept-alive connection opens none, and may have sent its request.
 */
export class ConnectWatch {
  opened = 0;
  ready = 0;
  timedOut = false;
  /** The bound that ran out, for the error's message. */
  timeoutMs?: number;

  /** Runs one SDK call so that the connections it opens report here. */
  run<T>(call: () => Promise<T>): Promise<T> {
    return calls.run(this, call);
  }

  /** Connections were being opened for this call and none of them got ready: no byte of a request left. */
  get neverConnected(): boolean {
    return this.opened > 0 && this.ready === 0;
  }

  /** Marks a connection of this call that ran out of time. */
  expired(timeoutMs: number): void {
    this.timedOut = true;
    this.timeoutMs = timeoutMs;
  }
}

const calls = new AsyncLocalStorage<ConnectWatch>();

/** The watch of a call whose request is being opened right now, synchronously (see `openingFor`). */
let opening: ConnectWatch | undefined;

/**
 * The option that carries a call's watch to the agent: an SDK that lets a request add options to `http.request`
 * (Azure's pipeline: `PipelineRequest.requestOverrides`) sets it, and Node hands the request's options on to the
 * agent's `createConnection`. No AsyncLocalStorage then either.
 */
export const WATCH_OPTION = 'mailrouteConnectWatch';

/** The watch of the connection being created: the one its request options carry, else the SDK call's running now. */
export function currentWatch(connectionOptions?: unknown): ConnectWatch | undefined {
  const carried = (connectionOptions as Record<string, unknown> | null | undefined)?.[WATCH_OPTION];
  if (carried instanceof ConnectWatch) return carried;
  return opening ?? calls.getStore();
}

/**
 * Watches keyed by the options object of an SDK call, for an HTTP handler that receives that very object (smithy's
 * `NodeHttpHandler.handle(request, options)` does). No AsyncLocalStorage is involved: once one has run, Node keeps
 * promise hooks on for the whole process, which cost a send about 0.04 ms of CPU on loopback (bench/send-profile.ts).
 */
const byCallOptions = new WeakMap<object, ConnectWatch>();

/** Returns `options`, registered so that the connections opened for the call that gets them report to `watch`. */
export function watchedOptions<T extends object>(watch: ConnectWatch, options: T): T {
  byCallOptions.set(options, watch);
  return options;
}

/**
 * Runs `open`, a function that opens the call's request synchronously (http.request, where the agent creates the
 * connection), with the watch registered for `options` as the current one. A connection opened later (the agent's
 * sockets all busy, the request queued) is not counted: the call then cannot be proved unsent, which is the safe
 * side (ambiguous, never a second send).
 */
export function openingFor<T>(options: object | undefined, open: () => T): T {
  const watch = options ? byCallOptions.get(options) : undefined;
  if (!watch) return open();
  const previous = opening;
  opening = watch;
  try {
    return open();
  } finally {
    opening = previous;
  }
}

/**
 * Makes `watch` the current one until the synchronous code running now ends (a microtask clears it), for an SDK that
 * asks a function of ours for the agent synchronously right before `http.request`: node-fetch calls its `agent`
 * option that way, and the agent opens the connection inside `http.request`. No AsyncLocalStorage involved.
 */
export function currentForNow(watch: ConnectWatch): void {
  opening = watch;
  queueMicrotask(() => {
    if (opening === watch) opening = undefined;
  });
}

/** True when the error (or one of its causes) is a connection that was not set up in time. */
export function connectTimedOut(error: unknown): boolean {
  for (let e = error as { code?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 6; ) {
    if (e.code === CONNECT_TIMEOUT_CODE || e.code === UNDICI_CONNECT_TIMEOUT || e.name === 'ConnectTimeoutError') {
      return true;
    }
    e = e.cause as typeof e;
    depth++;
  }
  return false;
}
