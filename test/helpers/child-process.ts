import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A port the OS just handed out and took back: for a server started as a child process that cannot listen on
 * port 0 (redis-server), which is started again on a new port when another process took this one first (a small
 * race: see `startRedis`), and for an address nobody listens on. A server that can listen on port 0 should
 * (Azurite does, see `startAzurite`).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port from the OS');
  return address.port;
}

/** Stops a server started as a child: SIGTERM (it closes gracefully), SIGKILL after 3 s if it hangs. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
