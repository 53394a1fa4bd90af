import { type AddressInfo, createServer, type Socket } from 'node:net';

/**
 * A TCP server that accepts every connection and then neither reads nor writes a byte: a provider that takes
 * the connection and never completes a handshake (no SMTP greeting; no TLS ServerHello for https). Over plain
 * http a client's request still lands in the socket buffers, so it looks sent: use `https://` (or SMTP) to test
 * the connect phase.
 */
export interface BlackHole {
  host: string;
  port: number;
  /** `https://127.0.0.1:port` (or another scheme), for API endpoints. */
  url(scheme?: string): string;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  // pauseOnConnect: the socket is never read, so nothing is consumed (a slow, overloaded or firewalled peer).
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    url: (scheme = 'https') => `${scheme}://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
