import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild } from './child-process.ts';

export interface RedisOptions {
  /** A given port, to start a server again where a stopped one was; default: a free one. */
  port?: number;
  /** Default: random. */
  password?: string;
  /**
   * TLS only (no plain port), with the test certificate of `test/fixtures/tls` (CN=localhost, SAN 127.0.0.1):
   * clients must trust it as their CA (`TEST_CA`).
   */
  tls?: boolean;
}

export interface RedisServer {
  host: string;
  port: number;
  /** Random per server, so a test can look for it in error text. */
  password: string;
  /** `redis://:PASSWORD@127.0.0.1:PORT`, or `rediss://…` with `tls`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A real `redis-server` (the Debian package) on a free loopback port, in memory only, with a password so that AUTH
 * is exercised. `stop()` ends it; an interrupted test run kills it on exit.
 *
 * @example
 * const redis = await startRedis();
 * const store = new RedisStore({ url: redis.url });
 * await redis.stop();
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  const password = options.password ?? randomBytes(12).toString('hex');
  // redis-server cannot listen on port 0 (that turns TCP off), so it gets a port the OS just handed out, which
  // another process may take before redis-server binds it: redis-server then exits ("Address already in use")
  // and is started again on a new port. Whoever holds the port cannot pass for it: readiness is our password's
  // PONG.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = options.port ?? (await freePort());
    const child = spawn(
      binary,
      [
        ...(options.tls
          ? [
              '--port',
              '0',
              '--tls-port',
              String(port),
              '--tls-cert-file',
              join(TLS_FIXTURES, 'cert.pem'),
              '--tls-key-file',
              join(TLS_FIXTURES, 'key.pem'),
              '--tls-ca-cert-file',
              join(TLS_FIXTURES, 'cert.pem'),
              '--tls-auth-clients',
              'no',
            ]
          : ['--port', String(port)]),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--requirepass',
        password,
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    try {
      await waitForPong(child, port, password, options.tls ?? false);
    } catch (error) {
      lastError = error;
      process.removeListener('exit', kill);
      await stopChild(child);
      if (options.port === undefined && /address already in use/i.test(String(error))) continue;
      throw error;
    }
    return {
      host: '127.0.0.1',
      port,
      password,
      url: `${options.tls ? 'rediss' : 'redis'}://:${password}@127.0.0.1:${port}`,
      stop: async () => {
        process.removeListener('exit', kill);
        await stopChild(child);
      },
    };
  }
  throw lastError;
}

const TLS_FIXTURES = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

function findRedisServer(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error('redis-server not found: apt-get install -y redis-server');
}

/** Polls until the server answers AUTH and PING, so no test meets a server still starting. */
async function waitForPong(child: ChildProcess, port: number, password: string, tls: boolean, timeoutMs = 10_000) {
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}): ${output.trim()}`);
    }
    if (await answersPing(port, password, tls)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within ${timeoutMs} ms: ${output.trim()}`);
}

function answersPing(port: number, password: string, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    // Whether the certificate is right is for the tests to find out; this only waits for the server.
    const socket: Socket = tls
      ? connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      socket.write(`*2\r\n$4\r\nAUTH\r\n$${password.length}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      // A server still loading answers -LOADING to PING.
      if (reply.includes('+PONG\r\n')) done(true);
      else if (reply.includes('-')) done(false);
    });
  });
}

export { freePort } from './child-process.ts';
