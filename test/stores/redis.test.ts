import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisStore, RedisStoreError } from '../../stores/redis.ts';
import { freePort, type RedisServer, startRedis } from '../helpers/redis.ts';
import { TEST_CA } from '../helpers/smtp-test-server.ts';

// What the contract cannot see: where records live in Redis, whose clock expires them, what a failure says and how
// long it takes.

let redis: RedisServer;
let raw: Redis;
const stores: RedisStore[] = [];
/** A store closed after the file, so no test leaves a connection open. */
const open = (options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
  const store = new RedisStore({ url: redis.url, ...options });
  stores.push(store);
  return store;
};
const newKey = (label: string) => `${label}:${randomUUID()}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  raw?.disconnect();
  await redis?.stop();
});

/** Everything an error could show a log: message, stack, own properties, inspection. */
const errorText = (error: unknown) => `${inspect(error, { depth: 5 })} ${JSON.stringify(error)} ${String(error)}`;

async function failure(call: Promise<unknown>): Promise<RedisStoreError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(RedisStoreError);
    return error as RedisStoreError;
  }
  throw new Error('expected the call to fail');
}

describe('RedisStore layout', () => {
  it('keeps one string per record under the prefix: the version, then the JSON value; lifetime as PTTL', async () => {
    const store = open();
    const key = newKey('layout');
    const version = await store.put(key, { state: 'in-progress' }, { ttlMs: 60_000 });
    expect(await raw.get(`mailroute:${key}`)).toBe(`${version}{"state":"in-progress"}`);
    expect(version).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ttl = await raw.pttl(`mailroute:${key}`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // A write without a lifetime takes the old one away, in Redis too.
    await store.update(key, { state: 'completed' }, version!);
    expect(await raw.pttl(`mailroute:${key}`)).toBe(-1);
    expect(await raw.exists(key)).toBe(0);
  });

  it('keeps stores with different prefixes apart', async () => {
    const a = open({ keyPrefix: 'tenant-a:' });
    const b = open({ keyPrefix: 'tenant-b:' });
    const key = newKey('shared-name');
    expect(await a.put(key, 'a')).toBeTypeOf('string');
    expect(await b.get(key)).toBeUndefined();
    expect(await b.put(key, 'b')).toBeTypeOf('string');
    expect((await a.get(key))?.value).toBe('a');
    expect(await raw.get(`tenant-b:${key}`)).toMatch(/"b"$/);
  });

  it('turns a lifetime into whole milliseconds, at least one, and refuses one that is not a number', async () => {
    const store = open();
    const key = newKey('ttl-rounding');
    expect(await store.put(key, 1, { ttlMs: 59_999.2 })).toBeTypeOf('string');
    expect(await raw.pttl(`mailroute:${key}`)).toBeGreaterThan(59_000);
    const zero = newKey('ttl-zero');
    expect(await store.put(zero, 1, { ttlMs: 0 })).toBeTypeOf('string');
    await sleep(5);
    expect(await store.get(zero)).toBeUndefined();
    await expect(store.put(newKey('ttl-nan'), 1, { ttlMs: Number.NaN })).rejects.toThrow(/ttlMs/);
  });

  it('loads its scripts again after the server forgot them (SCRIPT FLUSH, a restart, a failover)', async () => {
    const store = open();
    const key = newKey('noscript');
    const first = await store.put(key, 1);
    await raw.script('FLUSH');
    const second = await store.update(key, 2, first!);
    expect(second).toBeTypeOf('string');
    await raw.script('FLUSH');
    await store.delete(key, second);
    expect(await raw.exists(`mailroute:${key}`)).toBe(0);
    await raw.script('FLUSH');
    expect(await store.get(key)).toBeUndefined();
  });
});

describe('RedisStore over TLS (rediss://)', () => {
  let secure: RedisServer;
  beforeAll(async () => {
    secure = await startRedis({ tls: true });
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it('connects with TLS from the URL alone, trusting the CA it is given', async () => {
    expect(secure.url).toMatch(/^rediss:\/\//);
    const store = open({ url: secure.url.replace('127.0.0.1', 'localhost'), tls: { ca: TEST_CA } });
    const key = newKey('tls');
    const version = await store.put(key, { secure: true }, { ttlMs: 60_000 });
    expect(await store.get(key)).toMatchObject({ value: { secure: true }, version });
  });

  it('refuses a certificate it does not trust, promptly and without the password', async () => {
    const store = open({ url: secure.url });
    const error = await failure(store.get('k'));
    // Promptly: the handshake's own failure is the answer, not the command timeout's "no answer within 2000 ms".
    expect(error.message).toMatch(/self[- ]signed certificate/i);
    expect(errorText(error)).not.toContain(secure.password);
  });

  it('does not speak plain Redis to a TLS port', async () => {
    const error = await failure(open({ url: secure.url.replace('rediss:', 'redis:'), commandTimeoutMs: 500 }).get('k'));
    expect(error.address).toBe(`127.0.0.1:${secure.port}`);
    expect(error.message).toMatch(/get failed: (unreachable|no answer)/);
  });
});

describe('RedisStore rights', () => {
  it('reads with read rights only: no script, no INFO; writes are refused with NOPERM', async () => {
    const password = randomUUID();
    await raw.acl('SETUSER', 'reader', 'on', `>${password}`, '~*', '+@read', '+@connection', '+@transaction');
    const writer = open();
    const key = newKey('read-only');
    await writer.put(key, { readable: true }, { ttlMs: 60_000 });
    const reader = open({ url: `redis://reader:${password}@127.0.0.1:${redis.port}` });
    expect(await reader.get(key)).toMatchObject({ value: { readable: true }, expiresAt: expect.any(Number) });
    const refused = await failure(reader.put(newKey('read-only'), 1));
    expect(refused).toMatchObject({ operation: 'put', code: 'NOPERM' });
    expect(errorText(refused)).not.toContain(password);
  });
});

describe('RedisStore expiry follows the server clock', () => {
  it('expires a 300 ms record for a second client after 300 ms', async () => {
    const writer = open();
    const reader = open();
    const key = newKey('expiry-shared');
    await writer.put(key, 'short', { ttlMs: 300 });
    expect((await reader.get(key))?.value).toBe('short');
    await sleep(400);
    expect(await reader.get(key)).toBeUndefined();
    expect(await raw.exists(`mailroute:${key}`)).toBe(0);
  });

  it('keeps a live record live for a reader whose clock is 30 s ahead, and reports expiry on that clock', async () => {
    const store = open();
    const key = newKey('skew-ahead');
    const version = await store.put(key, 'live', { ttlMs: 10_000 });
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 30_000);
    const record = await store.get(key);
    expect(record?.value).toBe('live');
    // The remaining PTTL added to the reader's clock: ahead by the skew, never behind.
    expect(record?.expiresAt).toBeGreaterThan(realNow() + 30_000 + 9_000);
    expect(record?.expiresAt).toBeLessThanOrEqual(Date.now() + 10_000);
    expect(await store.put(key, 'other')).toBeUndefined();
    expect(await store.update(key, 'updated', version!, { ttlMs: 10_000 })).toBeTypeOf('string');
  });

  it('expires a record written by a writer whose clock is 30 s ahead after its own lifetime', async () => {
    const writer = open();
    const reader = open();
    const key = newKey('skew-writer-ahead');
    const realNow = Date.now.bind(Date);
    const skew = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 30_000);
    await writer.put(key, 'short', { ttlMs: 300 });
    skew.mockRestore();
    await sleep(400);
    expect(await reader.get(key)).toBeUndefined();
  });

  it('keeps a record written by a writer whose clock is 30 s behind for its whole lifetime', async () => {
    const store = open();
    const key = newKey('skew-writer-behind');
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 30_000);
    const version = await store.put(key, 'live', { ttlMs: 10_000 });
    expect((await store.get(key))?.version).toBe(version);
    expect(await raw.pttl(`mailroute:${key}`)).toBeGreaterThan(9_000);
  });

  it('gives a record put again after expiry a new version, which the old one cannot update or delete', async () => {
    const store = open();
    const key = newKey('new-life');
    const old = (await store.put(key, 'first', { ttlMs: 200 }))!;
    await sleep(300);
    const fresh = await store.put(key, 'second');
    expect(fresh).toBeTypeOf('string');
    expect(fresh).not.toBe(old);
    expect(await store.update(key, 'stale writer', old)).toBeUndefined();
    await store.delete(key, old);
    expect(await store.get(key)).toMatchObject({ value: 'second', version: fresh });
  });
});

describe('RedisStore failures', () => {
  // Characters that URL encoding changes, so that both the written and the decoded form are looked for.
  const secret = `Pa$$:w/rd@x-${randomUUID().slice(0, 8)}`;
  const encoded = encodeURIComponent(secret);

  it('names host:port, never the URL or its password, when the server is unreachable', async () => {
    const port = await freePort();
    const store = open({ url: `redis://:${encoded}@127.0.0.1:${port}` });
    const error = await failure(store.get('k'));
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/get failed: unreachable: .*ECONNREFUSED/);
    expect(error).toMatchObject({ address: `127.0.0.1:${port}`, operation: 'get', code: 'ECONNREFUSED' });
    const text = errorText(error);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encoded);
  });

  it('names the refusal, not the password, when AUTH fails', async () => {
    const store = open({ url: `redis://:${encoded}@127.0.0.1:${redis.port}` });
    const error = await failure(store.put(newKey('auth'), 1));
    expect(error.message).toMatch(
      new RegExp(`^Redis state store at 127\\.0\\.0\\.1:${redis.port}: put failed: WRONGPASS`),
    );
    expect(error.code).toBe('WRONGPASS');
    const text = errorText(error);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encoded);
    expect(text).not.toContain(redis.password);
  });

  it('says NOAUTH when the URL has no password for a server that needs one', async () => {
    const error = await failure(open({ url: `redis://127.0.0.1:${redis.port}` }).get('k'));
    expect(error.code).toBe('NOAUTH');
  });

  it('refuses a URL that is not redis:// or rediss:// without quoting it', () => {
    for (const url of [
      `http://:${secret}@host:6379`,
      `${secret}`,
      `redis://:${encoded}@/`,
      `rediss://h:1/x${secret}`,
    ]) {
      let message = '';
      try {
        new RedisStore({ url });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^Redis store: url /);
      expect(message).not.toContain(secret);
      expect(message).not.toContain(encoded);
    }
  });

  describe('against a server that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    let port: number;

    beforeAll(async () => {
      silent = createServer((socket) => {
        // Reads (so it sees a client close) and never writes.
        socket.resume();
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('fails a call after the default command timeout (2 s) instead of hanging', async () => {
      const store = open({ url: `redis://:${encoded}@127.0.0.1:${port}` });
      const started = performance.now();
      const error = await failure(store.get('k'));
      // Not before the 2 s (on the timers' monotonic clock), and ended by that timeout (its words), not later.
      expect(performance.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(error.message).toBe(`Redis state store at 127.0.0.1:${port}: get failed: no answer within 2000 ms`);
      expect(errorText(error)).not.toContain(encoded);
    });

    it('honours a shorter command timeout for every operation', async () => {
      const store = open({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
      // One after another: each on a connection of its own (a call that timed out drops its connection, and calls
      // still waiting on that one would fail as "connection closed" instead, sooner or later as timers fire).
      const errors: RedisStoreError[] = [];
      for (const call of [
        () => store.put('k', 1),
        () => store.update('k', 1, randomUUID()),
        () => store.delete('k'),
        () => store.delete('k', randomUUID()),
      ]) {
        errors.push(await failure(call()));
      }
      expect(errors.map((e) => e.operation)).toEqual(['put', 'update', 'delete', 'delete']);
      expect(errors.every((e) => e.code === 'ETIMEDOUT')).toBe(true);
      // Each ended by the 300 ms timeout, not the 2 s default.
      for (const error of errors) expect(error.message).toMatch(/: no answer within 300 ms$/);
    });
  });

  it('drops a connection that stopped answering, so the next call gets through on a new one', async () => {
    // A proxy that can make the connections it carries go silent (a half-dead link) while new ones work.
    const carried: { client: Socket; upstream: Socket }[] = [];
    const proxy = createServer((client) => {
      const upstream = connect(redis.port, '127.0.0.1');
      client.pipe(upstream);
      upstream.pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      carried.push({ client, upstream });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as { port: number }).port;
      const store = open({ url: `redis://:${redis.password}@127.0.0.1:${port}`, commandTimeoutMs: 300 });
      const key = newKey('silent-link');
      expect(await store.put(key, 1)).toBeTypeOf('string');
      for (const { client, upstream } of carried) {
        client.unpipe(upstream);
        upstream.unpipe(client);
      }
      expect((await failure(store.get(key))).code).toBe('ETIMEDOUT');
      expect((await store.get(key))?.value).toBe(1);
      expect(carried).toHaveLength(2);
    } finally {
      for (const { client, upstream } of carried) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('fails fast while its server is down and works again once it is back', async () => {
    const own = await startRedis();
    try {
      const store = open({ url: own.url });
      const key = newKey('restart');
      expect(await store.put(key, 1)).toBeTypeOf('string');
      await own.stop();
      const error = await failure(store.get(key));
      expect(error.message).toContain(`127.0.0.1:${own.port}`);
      // Fast: refused by the closed port, not left to the 2 s command timeout.
      expect(error.message).not.toMatch(/no answer within/);
      // Long after the client gave up reconnecting: the next call opens a new connection.
      await sleep(800);
      const again = await startRedis({ port: own.port, password: own.password });
      own.stop = again.stop;
      expect(await store.get(key)).toBeUndefined();
      expect(await store.put(key, 2)).toBeTypeOf('string');
    } finally {
      await own.stop();
    }
  });
});

describe('RedisStore connection', () => {
  it('does not connect before the first call, and close() then needs no server', async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}` });
    await store.close();
    await expect(store.get('k')).rejects.toThrow(`Redis state store at 127.0.0.1:${port}: get after close()`);
  });

  it('closes a connection in use, lets calls already sent finish, and refuses calls after it', async () => {
    const store = new RedisStore({ url: redis.url });
    const key = newKey('close');
    await store.get(key);
    const clients = Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))?.[1]);
    // Written to the socket before close() sends QUIT, so it is answered first.
    const pending = store.put(key, 'sent before close');
    await expect(Promise.all([pending, store.close()])).resolves.toEqual([expect.any(String), undefined]);
    expect(await raw.get(`mailroute:${key}`)).toMatch(/"sent before close"$/);
    await store.close();
    await expect(store.get(key)).rejects.toBeInstanceOf(RedisStoreError);
    // The server saw the connection go.
    await expect
      .poll(async () => Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))?.[1]))
      .toBe(clients - 1);
  });

  it('lets a process that never calls close() exit by itself', async () => {
    const source = `
      import { RedisStore } from ${JSON.stringify(new URL('../../stores/redis.ts', import.meta.url).href)};
      const store = new RedisStore({ url: process.env.REDIS_URL });
      await store.put('exit-test', { ok: true });
      console.log(JSON.stringify((await store.get('exit-test')).value));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    // One that does not exit by itself is stopped short of the test's own timeout (and then fails below).
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const code = await new Promise((resolve) => child.once('exit', (exitCode, signal) => resolve(exitCode ?? signal)));
    clearTimeout(timer);
    expect(output.trim()).toBe('{"ok":true}');
    expect(code).toBe(0);
  });
});
