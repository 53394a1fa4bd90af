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
export function connectAgents(connectTimeoutMs: number, tls: SecureContextOptions = {}): ConnectAgents {
  const options = { keepAlive: true, maxSockets: 50 };
  const plain = boundedAgent(new http.Agent(options), connectTimeoutMs, 'connect');
  const secure = boundedAgent(new https.Agent({ ...options, ...tls }), connectTimeoutMs, 'secureConnect');
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

/** Makes each new connection of `agent` bounded: `ready` is `connect`, or `secureConnect` for TLS. */
function boundedAgent<A extends http.Agent>(agent: A, connectTimeoutMs: number, ready: string): A {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args: Parameters<http.Agent['createConnection']>) =>
    bounded(create(...args), connectTimeoutMs, ready);
  return agent;
}

/** Destroys a new connection that is not ready (`connect`, or `secureConnect` for TLS) within the bound. */
function bounded<T extends Duplex | null | undefined>(socket: T, timeoutMs: number, ready: string): T {
  if (!socket) return socket;
  // Read now: createConnection runs inside the request call, so this is the watch of the SDK call it serves.
  const watch = currentWatch();
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
