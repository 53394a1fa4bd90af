import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import { ConnectTimeoutError, currentWatch } from './connect-watch.ts';

/** Keep-alive agents for an SDK's node:http(s) requests, each new connection bounded by `connectTimeoutMs`. */
export interface ConnectAgents {
  http: http.Agent;
  https: https.Agent;
  /** The agent for a URL's protocol (node-fetch takes a function of the URL). */
  for(url: URL | string): http.Agent;
  destroy(): void;
}

/**
 * The SDKs' own connect timeouts stop at TCP (smithy's `connectionTimeout`) or do not exist (ACS, gaxios): a
 * server that accepts the connection and never completes TLS holds the request until the deadline, and is then
 * taken for one that received it. These agents bound the whole set-up, DNS to the end of the TLS handshake, and
 * report each connection to the call's `ConnectWatch`. A kept-alive connection is reused as it is.
 */
export function connectAgents(
  connectTimeoutMs: number,
  tls: SecureContextOptions = {},
  maxIdleMs = DEFAULT_MAX_IDLE_MS,
): ConnectAgents {
  const options = { keepAlive: true, maxSockets: 50 };
  const plain = idleBounded(boundedAgent(new http.Agent(options), connectTimeoutMs, 'connect'), maxIdleMs);
  const secure = idleBounded(
    boundedAgent(new https.Agent({ ...options, ...tls }), connectTimeoutMs, 'secureConnect'),
    maxIdleMs,
  );
  return {
    http: plain,
    https: secure,
    for: (url) => (new URL(String(url)).protocol === 'http:' ? plain : secure),
    destroy: () => {
      plain.destroy();
      secure.destroy();
    },
  };
}

/**
 * An HTTP(S) proxy the SDK would pick up from the environment (ACS's pipeline and gaxios do): an agent of ours
 * would bypass it, so the adapters then leave the SDK's own agent (and its connect behaviour) alone.
 */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => Boolean(env[name]));
}

/**
 * How long a kept-alive connection may have been idle and still be reused. A server closes idle connections after
 * its own timeout (Node's 5 s; load balancers more), and a request written on a connection the server has just
 * closed fails with ECONNRESET: the adapter cannot tell it from a request the server received, so the send is
 * ambiguous (set aside, never retried) although nothing arrived. Node's agent closes a connection early when the
 * server announces its timeout (`Keep-Alive: timeout=N`), by a timer; that misses a server that announces none, and
 * a process that was frozen (a Lambda instance between invocations, for minutes): on thaw, the next request can take
 * the stale connection before the timer or the server's FIN is handled. Checked against the clock at reuse instead,
 * such a connection is closed and a new one opened (a handshake after an idle spell, the price of certainty).
 */
export const DEFAULT_MAX_IDLE_MS = 4_000;

/** When each free connection became free (the agent calls keepSocketAlive as it puts one in its pool). */
const idleSince = new WeakMap<object, number>();

/** Makes `agent` close, instead of reusing, a free connection idle for longer than `maxIdleMs`. */
function idleBounded<A extends http.Agent>(agent: A, maxIdleMs: number): A {
  // Returns whether the connection is kept (typed void in @types/node; Node returns a boolean).
  const keep = agent.keepSocketAlive.bind(agent) as unknown as (socket: Duplex) => boolean;
  agent.keepSocketAlive = ((socket: Duplex) => {
    const kept = keep(socket);
    if (kept) idleSince.set(socket, Date.now());
    return kept;
  }) as unknown as http.Agent['keepSocketAlive'];
  // Node's internal hook for each request (stable since Node 0.x, used by agent-base and others): the free
  // connections are in the pool in the order they became free, and it skips destroyed ones at the front.
  const internals = agent as unknown as { addRequest(req: unknown, options: unknown): void };
  const add = internals.addRequest.bind(agent);
  internals.addRequest = (req, options) => {
    const now = Date.now();
    for (const sockets of Object.values(agent.freeSockets)) {
      for (const socket of sockets ?? []) {
        const since = idleSince.get(socket);
        if (since !== undefined && now - since > maxIdleMs) socket.destroy();
      }
    }
    add(req, options);
  };
  return agent;
}

/** Makes each new connection of `agent` bounded: `ready` is `connect`, or `secureConnect` for TLS. */
function boundedAgent<A extends http.Agent>(agent: A, connectTimeoutMs: number, ready: string): A {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args: Parameters<http.Agent['createConnection']>) =>
    bounded(create(...args), connectTimeoutMs, ready, args[0]);
  return agent;
}

/** Destroys a new connection that is not ready (`connect`, or `secureConnect` for TLS) within the bound. */
function bounded<T extends Duplex | null | undefined>(
  socket: T,
  timeoutMs: number,
  ready: string,
  connectionOptions?: unknown,
): T {
  if (!socket) return socket;
  // Read now: createConnection runs inside the request call, so this is the watch of the SDK call it serves
  // (carried in the request's options, or made current around the request).
  const watch = currentWatch(connectionOptions);
  if (watch) watch.opened++;
  const timer = setTimeout(() => {
    watch?.expired(timeoutMs);
    socket.destroy(new ConnectTimeoutError(timeoutMs));
  }, timeoutMs);
  socket.once(ready, () => {
    clearTimeout(timer);
    if (watch) watch.ready++;
  });
  socket.once('close', () => clearTimeout(timer));
  return socket;
}
