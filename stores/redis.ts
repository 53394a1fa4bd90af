import { createHash, randomUUID } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { registerSecret } from '../core/config/secrets.ts';
import { listLimit } from './memory.ts';
import type {
  ListOptions,
  ListPage,
  RateGrant,
  RateRequest,
  RateRule,
  StateStore,
  StoredRecord,
  WriteOptions,
} from './store.ts';

export interface RedisStoreOptions {
  /**
   * `redis://[[username]:password@]host[:port][/db]`, or `rediss://…` for TLS. It may hold the AUTH password, so
   * it is treated as a secret: no error message or log line of this store contains it.
   */
  url: string;
  /** Put before every key, so that other applications can share the database. Default `mailroute:`. */
  keyPrefix?: string;
  /** Longest wait for the TCP (and TLS) connection. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Longest wait for one call's answer, a connection it has to wait for included. Default 2000 ms. */
  commandTimeoutMs?: number;
  /**
   * Extra TLS settings for `rediss://` (ignored for `redis://`), such as `ca` when the server's certificate
   * authority is a private one, as Memorystore's is. `NODE_EXTRA_CA_CERTS` does the same for a whole process.
   */
  tls?: ConnectionOptions;
}

/** Thrown for every failure of the server or the connection. Names the server as host:port, never the URL. */
export class RedisStoreError extends Error {
  /** `host:port` of the server. */
  readonly address: string;
  /** The store method that failed: get, put, update, delete, list or reserveRate. */
  readonly operation: string;
  /** A socket error code (`ECONNREFUSED`) or the first word of the server's error reply (`WRONGPASS`). */
  readonly code?: string;

  constructor(message: string, details: { address: string; operation: string; code?: string }) {
    super(message);
    this.name = 'RedisStoreError';
    this.address = details.address;
    this.operation = details.operation;
    if (details.code !== undefined) this.code = details.code;
  }
}

/** `randomUUID()` is always this long, which is what lets a stored string start with its version, unseparated. */
const VERSION_LENGTH = 36;

// ARGV: version expected, new stored string, lifetime in ms or '' for none. A plain SET also drops an old TTL.
const UPDATE = script(`
local stored = redis.call('GET', KEYS[1])
if not stored or string.sub(stored, 1, ${VERSION_LENGTH}) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`);

const DELETE_AT_VERSION = script(`
local stored = redis.call('GET', KEYS[1])
if stored and string.sub(stored, 1, ${VERSION_LENGTH}) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

// GCRA over every rule of a rate limit in one step (see RateRule): a hash whose field i holds rule i's
// theoretical arrival time. KEYS[1]: the hash. ARGV: now, maxWaitMs, ttlMs, then intervalMs and burst per rule.
// Returns {1, slot} when granted (the state moved on), {0, wait} when the slot is further away than maxWaitMs
// (nothing written). Numbers go out as strings ('%.17g' round-trips a double): a Lua number returned as such is
// truncated to an integer.
const RESERVE_RATE = script(`
local now = tonumber(ARGV[1])
local maxWait = tonumber(ARGV[2])
local rules = (#ARGV - 3) / 2
local tats = {}
local at = now
for i = 1, rules do
  local interval = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  local stored = redis.call('HGET', KEYS[1], tostring(i))
  if stored then
    tats[i] = tonumber(stored)
    at = math.max(at, tats[i] - (burst - 1) * interval)
  end
end
if at - now > maxWait + 1e-6 then return {0, string.format('%.17g', at - now)} end
for i = 1, rules do
  local base = now
  if tats[i] and tats[i] > now then base = tats[i] end
  redis.call('HSET', KEYS[1], tostring(i), string.format('%.17g', base + tonumber(ARGV[2 + 2 * i])))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, string.format('%.17g', at)}
`);

/**
 * Idempotency records, shared health and shared rate limits in Redis: Google Cloud Memorystore, OCI Cache, or any
 * Redis 6+ server.
 *
 * Layout: one string per record under `keyPrefix + key`, holding the version (a random UUID, 36 characters)
 * followed by the value as JSON. Redis does every compare-and-set itself: `put` is one `SET … NX PX`, `update` and
 * `delete` at a version are Lua scripts (EVALSHA, falling back to EVAL when the server does not have them yet), and
 * `get` reads value and `PTTL` in one MULTI/EXEC. A lifetime is `PX`, a duration, so a record expires by the Redis
 * server's clock: this machine's clock, which may be off, only turns the remaining `PTTL` back into `expiresAt`
 * for the caller. Random versions mean that a record put
 * again after it expired can never be updated by a writer still holding the previous life's version.
 *
 * The connection is opened on the first call, and every call fails within `commandTimeoutMs` when the server is
 * down or does not answer. Its socket does not keep the process alive while idle; `close()` ends it.
 *
 * @example
 * const store = new RedisStore({ url: 'rediss://:AUTH_STRING@10.0.0.3:6378', keyPrefix: 'mailroute:' });
 * const version = await store.put('idem:order-42', { state: 'in-progress' }, { ttlMs: 60_000 });
 * await store.close();
 */
export class RedisStore implements StateStore {
  /** `host:port`, the only part of the URL that errors show. */
  readonly address: string;
  private readonly url: string;
  private readonly keyPrefix: string;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly tls?: ConnectionOptions;
  private readonly secrets: string[];
  private client?: Redis;
  /** Why the connection last failed, for calls that ioredis then drops with a message of its own. */
  private lastConnectionError?: { message: string; code?: string };
  private closed = false;

  constructor(options: RedisStoreOptions) {
    const target = parseRedisUrl(options.url);
    this.url = options.url;
    this.address = target.address;
    this.secrets = target.secrets;
    // Registered for redaction, so an error or log line elsewhere that echoes the URL or password is scrubbed too.
    registerSecret(options.url);
    for (const secret of target.secrets) registerSecret(secret);
    this.keyPrefix = options.keyPrefix ?? 'mailroute:';
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2_000;
    if (target.tls && options.tls) this.tls = options.tls;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const [stored, ttl] = await this.run('get', async (client) => {
      // One transaction, so the lifetime read belongs to the version read; not a script, so that reading needs
      // only read rights (a read-only ACL user, a server refusing scripts).
      const replies = await client
        .multi()
        .get(this.keyPrefix + key)
        .pttl(this.keyPrefix + key)
        .exec();
      if (!replies) throw new Error('transaction aborted');
      for (const [error] of replies) if (error) throw error;
      return [replies[0]?.[1], replies[1]?.[1]] as [string | null, number];
    });
    if (stored === null) return undefined;
    return {
      key,
      value: JSON.parse(stored.slice(VERSION_LENGTH)) as T,
      version: stored.slice(0, VERSION_LENGTH),
      // PTTL is -1 for a key without a lifetime.
      ...(ttl >= 0 ? { expiresAt: Date.now() + ttl } : {}),
    };
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined> {
    const version = randomUUID();
    const stored = version + serialize(key, value);
    const ttl = ttlOf(key, options);
    const reply = await this.run('put', (client) =>
      ttl === undefined
        ? client.set(this.keyPrefix + key, stored, 'NX')
        : client.set(this.keyPrefix + key, stored, 'PX', ttl, 'NX'),
    );
    return reply === 'OK' ? version : undefined;
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined> {
    const next = randomUUID();
    const stored = next + serialize(key, value);
    const ttl = ttlOf(key, options);
    const reply = await this.run('update', (client) =>
      evalScript(client, UPDATE, this.keyPrefix + key, [version, stored, ttl === undefined ? '' : String(ttl)]),
    );
    return reply === 1 ? next : undefined;
  }

  async delete(key: string, version?: string): Promise<void> {
    await this.run('delete', (client) =>
      version === undefined
        ? client.del(this.keyPrefix + key)
        : evalScript(client, DELETE_AT_VERSION, this.keyPrefix + key, [version]),
    );
  }

  /**
   * A page of the live records under `prefix`: `SCAN` over the database with `MATCH keyPrefix + prefix*` (the
   * prefixes glob-escaped) and `TYPE string` (shared rate limits are hashes, not records), then each record read
   * as `get` reads it, all in one MULTI/EXEC. SCAN visits the whole keyspace a few buckets at a time, so this may
   * take several calls, each of up to `limit` keys looked at, and a page can be short or empty while more follow.
   * Records come in hash order, not by key. SCAN's own guarantee holds: a record present for the whole listing is
   * listed, but one the server rehashed meanwhile can come up twice (rarely: when the database grew or shrank a
   * lot between pages), so a caller that counts should count distinct keys.
   *
   * The cursor is base64url JSON: the SCAN cursor to go on from, and, when one SCAN batch held more than the page
   * had room for, the last key taken from it (that batch is scanned again and its keys up to that one skipped).
   */
  async list<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    const limit = listLimit(options);
    const start = options?.cursor === undefined ? { c: '0' } : parseScanCursor(options.cursor);
    const pattern = `${globEscape(this.keyPrefix + prefix)}*`;
    return this.run('list', async (client) => {
      const keys: string[] = [];
      let scanCursor = start.c;
      let after = start.a;
      let next: ScanCursor | undefined;
      for (let call = 0; ; call += 1) {
        const [following, found] = await client.scan(scanCursor, 'MATCH', pattern, 'COUNT', limit, 'TYPE', 'string');
        // Sorted, so that "up to this key" names the same part of the batch when it is scanned again.
        const batch = found.filter((key) => after === undefined || key > after).sort();
        after = undefined;
        const room = limit - keys.length;
        if (batch.length > room) {
          keys.push(...batch.slice(0, room));
          next = { c: scanCursor, a: keys.at(-1)! };
          break;
        }
        keys.push(...batch);
        if (following === '0') break;
        scanCursor = following;
        // Full, or enough round trips for one page: the caller asks for the next.
        if (keys.length === limit || call + 1 >= SCAN_CALLS_PER_PAGE) {
          next = { c: following };
          break;
        }
      }
      const records: StoredRecord<T>[] = [];
      if (keys.length > 0) {
        const transaction = client.multi();
        for (const key of keys) transaction.get(key).pttl(key);
        const replies = await transaction.exec();
        if (!replies) throw new Error('transaction aborted');
        const now = Date.now();
        keys.forEach((key, i) => {
          const [getError, stored] = replies[2 * i]!;
          const [, ttl] = replies[2 * i + 1]!;
          // Gone since the SCAN (deleted, expired), or no longer a string: not a record now.
          if (getError || typeof stored !== 'string' || stored.length < VERSION_LENGTH) return;
          records.push({
            key: key.slice(this.keyPrefix.length),
            value: JSON.parse(stored.slice(VERSION_LENGTH)) as T,
            version: stored.slice(0, VERSION_LENGTH),
            ...(typeof ttl === 'number' && ttl >= 0 ? { expiresAt: now + ttl } : {}),
          });
        });
      }
      return next === undefined ? { records } : { records, cursor: formatScanCursor(next) };
    });
  }

  /**
   * One GCRA step for every rule of a rate limit, as a Lua script: Redis runs it alone, so concurrent callers
   * are served one after another and none can lose a race or have to retry.
   */
  async reserveRate(key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant> {
    const ttl = Math.max(1, Math.ceil(request.ttlMs));
    const args = [String(request.now), String(request.maxWaitMs), String(ttl)];
    for (const rule of rules) args.push(String(rule.intervalMs), String(rule.burst));
    const reply = (await this.run('reserveRate', (client) =>
      evalScript(client, RESERVE_RATE, this.keyPrefix + key, args),
    )) as [number, string];
    return reply[0] === 1
      ? { ok: true, at: Number(reply[1]) }
      : { ok: false, retryAfterMs: Math.ceil(Number(reply[1]) - 1e-6) };
  }

  /** Ends the connection (QUIT, then closing the socket); calls made afterwards fail. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      // QUIT is answered after every call already sent, so those still get their replies.
      if (client.status === 'ready') await client.quit();
    } catch {
      // Closing a connection that failed is not an error worth raising: the socket is dropped below either way.
    } finally {
      client.disconnect();
    }
  }

  private async run<T>(operation: string, call: (client: Redis) => Promise<T>): Promise<T> {
    if (this.closed) {
      throw new RedisStoreError(`Redis state store at ${this.address}: ${operation} after close()`, {
        address: this.address,
        operation,
      });
    }
    const client = this.connection();
    try {
      return await call(client);
    } catch (error) {
      if (isTimeout(error) && this.client === client) {
        // ioredis keeps a connection whose server stopped answering; the next call should try a new one.
        this.client = undefined;
        client.disconnect();
      }
      throw this.failure(operation, error);
    }
  }

  /** The one client, created on first use, and again only after the previous one gave up reconnecting. */
  private connection(): Redis {
    if (this.client && this.client.status !== 'end') return this.client;
    const client = new Redis(this.url, {
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      commandTimeout: this.commandTimeoutMs,
      // Calls made while (re)connecting wait in ioredis's offline queue, but never long: each is dropped after one
      // failed reconnection, and commandTimeout bounds its wait in time whatever happens.
      maxRetriesPerRequest: 1,
      // A compare-and-set that reached the server but whose reply was lost must not be sent again: the resent
      // `SET NX` would report losing a race the first one won. The caller gets an error and decides.
      autoResendUnfulfilledCommands: false,
      // A few quick tries, then the client ends and the next call starts a new one: no reconnect loop runs (and
      // keeps a process alive) while nobody calls.
      retryStrategy: (attempt) => (attempt > 3 ? null : attempt * 100),
      // The ready check (INFO) costs a round trip per connection and needs INFO rights; a server still loading
      // answers LOADING instead, which fails that call like any other outage.
      enableReadyCheck: false,
      ...(this.tls ? { tls: this.tls } : {}),
    });
    client.on('connect', () => {
      // An idle connection must not keep a CLI or a test process from exiting; a pending call's timeout timer
      // keeps the process alive for as long as that call waits.
      client.stream.unref();
    });
    client.on('ready', () => {
      this.lastConnectionError = undefined;
    });
    // Without a listener ioredis prints each connection error to the console itself; kept for the next failure.
    client.on('error', (error: Error & { code?: unknown }) => {
      this.lastConnectionError = {
        message: error.message,
        ...(typeof error.code === 'string' ? { code: error.code } : {}),
      };
    });
    this.client = client;
    return client;
  }

  private failure(operation: string, error: unknown): RedisStoreError {
    let message = error instanceof Error ? error.message : String(error);
    let code = (error as { code?: unknown } | null)?.code ?? /^([A-Z]{3,})\s/.exec(message)?.[1];
    // ioredis reports a call it dropped for a lost connection in its own terms; the socket error says why.
    const dropped = /max retries per request|connection is closed|stream isn't writeable/i.test(message);
    if (dropped && this.lastConnectionError) {
      message = `unreachable: ${this.lastConnectionError.message}`;
      code = this.lastConnectionError.code ?? code;
    } else if (isTimeout(error)) {
      message = `no answer within ${this.commandTimeoutMs} ms`;
      code = 'ETIMEDOUT';
    }
    // The raw error is not kept as the cause: it carries the command's arguments, and the reason above says it all.
    return new RedisStoreError(`Redis state store at ${this.address}: ${operation} failed: ${this.scrub(message)}`, {
      address: this.address,
      operation,
      ...(typeof code === 'string' ? { code } : {}),
    });
  }

  /** No client message is known to echo the URL or password; this keeps it so if one ever does. */
  private scrub(text: string): string {
    let out = text.split(this.url).join('[REDACTED]');
    for (const secret of this.secrets) out = out.split(secret).join('[REDACTED]');
    return out;
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** EVALSHA, and EVAL (which also caches the script) when the server has not seen it since it started. */
async function evalScript(client: Redis, { source, sha }: Script, key: string, args: string[]): Promise<unknown> {
  try {
    return await client.evalsha(sha, 1, key, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(source, 1, key, ...args);
  }
}

/** SCAN calls one `list` page makes at most before it hands back a (possibly short) page and a cursor. */
const SCAN_CALLS_PER_PAGE = 10;

/** Where a `list` page goes on: SCAN cursor `c`, skipping that batch's keys up to `a` (sorted) when given. */
interface ScanCursor {
  c: string;
  a?: string;
}

function formatScanCursor(cursor: ScanCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function parseScanCursor(cursor: string): ScanCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const { c, a } = (parsed ?? {}) as { c?: unknown; a?: unknown };
  if (typeof c !== 'string' || !/^\d+$/.test(c) || (a !== undefined && typeof a !== 'string')) {
    throw new TypeError('list cursor is not one this Redis store issued');
  }
  return a === undefined ? { c } : { c, a };
}

/** The text as a literal in a Redis glob pattern (MATCH): `* ? [ ] \` escaped with a backslash. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function serialize(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`State store value for "${key}" is not JSON-serializable`);
  return json;
}

/** Whole milliseconds for PX, at least 1: Redis refuses 0, and a record with no time left is as good as absent. */
function ttlOf(key: string, options: WriteOptions | undefined): number | undefined {
  const ttlMs = options?.ttlMs;
  if (ttlMs === undefined) return undefined;
  if (!Number.isFinite(ttlMs)) throw new TypeError(`State store ttlMs for "${key}" must be a finite number`);
  return Math.max(1, Math.ceil(ttlMs));
}

interface RedisTarget {
  address: string;
  tls: boolean;
  /** The password as written in the URL and decoded: the forms an error text could carry. */
  secrets: string[];
}

const URL_FORM = 'redis://[[username]:password@]host[:port][/db] or rediss://… for TLS';

/** Checks the URL without ever quoting it: whatever part of it an error named could be the password. */
function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Redis store: url is not a URL; expected ${URL_FORM}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`Redis store: url must start with redis:// or rediss://; expected ${URL_FORM}`);
  }
  if (!parsed.hostname) throw new TypeError(`Redis store: url has no host; expected ${URL_FORM}`);
  if (!/^\/?\d*$/.test(parsed.pathname)) {
    throw new TypeError(`Redis store: url path must be a database number; expected ${URL_FORM}`);
  }
  const secrets = new Set<string>();
  if (parsed.password) {
    secrets.add(parsed.password);
    try {
      secrets.add(decodeURIComponent(parsed.password));
    } catch {
      // A malformed escape is kept as written, which is then also what the client sends.
    }
  }
  return {
    address: `${parsed.hostname}:${parsed.port || '6379'}`,
    tls: parsed.protocol === 'rediss:',
    secrets: [...secrets].filter(Boolean),
  };
}
