import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectAgents, DEFAULT_MAX_IDLE_MS } from '../../providers/http/agents.ts';

// A server that keeps connections for a minute and announces no timeout (as many load balancers): only the
// client's own bound can keep it from writing on a connection the server may have dropped meanwhile.
let server: http.Server;
let url: string;
const connections: { closed: boolean }[] = [];
beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.removeHeader('Keep-Alive');
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    const c = { closed: false };
    connections.push(c);
    socket.on('close', () => {
      c.closed = true;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  vi.restoreAllMocks();
  connections.length = 0;
});

function get(agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Waits until the agent has put the connection back in its pool (the response ended before that). */
async function pooled(agent: http.Agent, count: number): Promise<void> {
  while (Object.values(agent.freeSockets).reduce((n, s) => n + (s?.length ?? 0), 0) < count) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('connect agents: a kept-alive connection idle too long is not reused', () => {
  it('reuses a connection within the bound, and opens a new one (closing the old) past it', async () => {
    const agents = connectAgents(1_000);
    try {
      expect(await get(agents.http)).toBe('ok');
      await pooled(agents.http, 1);
      expect(await get(agents.http)).toBe('ok');
      await pooled(agents.http, 1);
      expect(connections).toHaveLength(1);

      // The clock moves past the bound while the connection sits in the pool (an idle spell, a frozen process).
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now + DEFAULT_MAX_IDLE_MS + 1);
      expect(await get(agents.http)).toBe('ok');
      expect(connections).toHaveLength(2);
      await vi.waitFor(() => expect(connections[0]!.closed).toBe(true), { timeout: 5_000 });
      expect(connections[1]!.closed).toBe(false);
    } finally {
      agents.destroy();
    }
  });

  it('keeps the newest connections of the pool when only the older ones are past the bound', async () => {
    const agents = connectAgents(1_000, {}, 10_000);
    try {
      const start = Date.now();
      const clock = vi.spyOn(Date, 'now').mockReturnValue(start);
      await Promise.all([get(agents.http), get(agents.http)]);
      await pooled(agents.http, 2);
      expect(connections).toHaveLength(2);
      // One of them is used again later, so it became free again later than the other.
      clock.mockReturnValue(start + 6_000);
      await get(agents.http);
      await pooled(agents.http, 2);
      // 11 s after the start: the connection idle since the start is past 10 s, the other (idle 5 s) is not.
      clock.mockReturnValue(start + 11_000);
      await get(agents.http);
      expect(connections).toHaveLength(2);
      await vi.waitFor(() => expect(connections.filter((c) => c.closed)).toHaveLength(1), { timeout: 5_000 });
    } finally {
      agents.destroy();
    }
  });
});
