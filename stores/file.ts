import { randomUUID } from 'node:crypto';
import { type Stats, statSync, unlinkSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { cloneData } from '../core/util/clone.ts';
import { listSorted } from './memory.ts';
// The same contract types as the other stores import, on purpose: each implements store.ts's StateStore.
import {
  expiryFrom,
  isLive,
  type ListOptions,
  type ListPage,
  type StateStore,
  type StoredRecord,
  type WriteOptions,
} from './store.ts';

export interface FileStoreOptions {
  /** The JSON file, e.g. `.mailroute/state.json`; its directory is created when missing. */
  path: string;
  /**
   * A lock file older than this is taken for one left behind by a process that died holding it, and removed.
   * Default 10 000 ms: far longer than any write holds it (milliseconds), short enough that a crashed CLI
   * does not block the others for long.
   */
  staleLockMs?: number;
  /** The longest a write waits for the lock before it fails. Default `staleLockMs` + 5 000 ms. */
  lockTimeoutMs?: number;
}

/** The file's content. `records` is keyed by the record's key. */
interface FileContent {
  format: 1;
  records: Record<string, { value: unknown; version: string; expiresAt?: number }>;
}

type Records = Map<string, StoredRecord>;

/** One write waiting for the lock: applies itself to the records read under the lock. */
interface PendingWrite {
  apply(records: Records, now: number): { result: string | undefined; changed: boolean };
  resolve(result: string | undefined): void;
  reject(error: unknown): void;
}

/**
 * Records in ONE JSON file on local disk, for the embedded default (no cloud store configured): the suppression
 * list and delivery-event correlation of a single machine, a few thousand records, shared by every process
 * started in one directory at once (the CLI, `mailroute serve`, `npm start`). It is not a send-path store for
 * production: every write rewrites the whole file, and it is not shared between machines (nor safe on a network
 * file system, whose exclusive create and rename may not be atomic).
 *
 * Writes: an exclusive lock file (`<path>.lock`, created with O_EXCL) is taken, the file is read, the
 * compare-and-set applied, expired records dropped, and the result written to a temporary file that is then
 * renamed over the file. Rename is atomic, so a reader (which takes no lock) sees the old file or the new one,
 * never half of one, and a writer killed at any point leaves the old file intact. A lock left by a process killed
 * while holding it is removed once older than `staleLockMs`. Writes of this instance that wait for the lock
 * together are applied under one lock and one file write, in the order they were made.
 *
 * Versions are random UUIDs, so a record put again after it expired never matches a version of its previous life.
 * There is no `reserveRate`: shared rate limits then go through compare-and-set (see `reserveByCompareAndSet`).
 *
 * @example
 * const store = new FileStore({ path: '.mailroute/state.json' });
 * await store.put('sup:someone@example.com', { reason: 'bounce' });
 */
export class FileStore implements StateStore {
  /** The state file. */
  readonly path: string;
  /** The lock file every write takes: `<path>.lock`. */
  readonly lockPath: string;
  private readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private pending: PendingWrite[] = [];
  /** Set and cleared synchronously with the queue's checks, so no write can be queued with nobody draining. */
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  /** The last file parsed, by identity: every write renames a new file into place, so a new inode means news. */
  private cache?: { ino: number; size: number; mtimeMs: number; records: Records };

  constructor(options: FileStoreOptions) {
    if (!options.path) throw new TypeError('FileStore needs a path');
    this.path = options.path;
    this.lockPath = `${options.path}.lock`;
    this.staleLockMs = options.staleLockMs ?? DEFAULT_STALE_LOCK_MS;
    this.lockTimeoutMs = options.lockTimeoutMs ?? this.staleLockMs + 5_000;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const record = (await this.read()).get(key);
    if (!isLive(record)) return undefined;
    return cloneData(record) as StoredRecord<T>;
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined> {
    const json = jsonOf(key, value);
    const expiresAt = expiryFrom(options);
    return this.enqueue((records, now) => {
      if (isLive(records.get(key), now)) return { result: undefined, changed: false };
      return { result: set(records, key, json, expiresAt), changed: true };
    });
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined> {
    const json = jsonOf(key, value);
    const expiresAt = expiryFrom(options);
    return this.enqueue((records, now) => {
      const current = records.get(key);
      if (!isLive(current, now) || current!.version !== version) return { result: undefined, changed: false };
      return { result: set(records, key, json, expiresAt), changed: true };
    });
  }

  async delete(key: string, version?: string): Promise<void> {
    await this.enqueue((records) => {
      const current = records.get(key);
      if (!current || (version !== undefined && current.version !== version))
        return { result: undefined, changed: false };
      records.delete(key);
      return { result: undefined, changed: true };
    });
  }

  /** Live records under `prefix` in key order, the cursor being the page's last key (as the memory store's). */
  async list<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    return listSorted<T>(await this.read(), prefix, options);
  }

  /** Waits for this instance's writes in flight; there is nothing to close. */
  async close(): Promise<void> {
    await this.drained;
  }

  private enqueue(apply: PendingWrite['apply']): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ apply, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  /** One lock and one file write at a time, each for every write queued meanwhile. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          const results = await this.transact(batch);
          for (const [i, write] of batch.entries()) write.resolve(results[i]);
        } catch (error) {
          for (const write of batch) write.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async transact(batch: PendingWrite[]): Promise<(string | undefined)[]> {
    const release = await acquireFileLock(this.lockPath, {
      staleMs: this.staleLockMs,
      timeoutMs: this.lockTimeoutMs,
    });
    try {
      // Read again under the lock: another process may have written since this one last looked.
      const records = new Map(await this.read());
      const now = Date.now();
      let changed = false;
      const results = batch.map((write) => {
        const outcome = write.apply(records, now);
        changed ||= outcome.changed;
        return outcome.result;
      });
      if (changed) {
        for (const [key, record] of records) if (!isLive(record, now)) records.delete(key);
        await this.write(records);
      }
      return results;
    } finally {
      await release();
    }
  }

  /** The records as the file holds them now (expired ones included); empty when there is no file yet. */
  private async read(): Promise<Records> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return new Map();
      throw error;
    }
    try {
      // The identity of the file opened, not of the path, which a writer may rename over meanwhile.
      const stats = await handle.stat();
      if (this.cache && sameFile(this.cache, stats)) return this.cache.records;
      const records = parse(await handle.readFile('utf8'), this.path);
      this.cache = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, records };
      return records;
    } finally {
      await handle.close();
    }
  }

  /** A new file, flushed to disk, then renamed over the old one: readers see one or the other, whole. */
  private async write(records: Records): Promise<void> {
    // No prototype: a key `__proto__` is then an ordinary property, written like any other.
    const content: FileContent = { format: 1, records: Object.create(null) as FileContent['records'] };
    for (const [key, { value, version, expiresAt }] of records) {
      content.records[key] = expiresAt === undefined ? { value, version } : { value, version, expiresAt };
    }
    const temporary = `${this.path}.${process.pid}.${randomUUID()}.tmp`;
    // Owner only: the records hold addresses (the suppression list).
    const handle = await open(temporary, 'wx', 0o600);
    let stats: Stats;
    try {
      await handle.writeFile(JSON.stringify(content), 'utf8');
      // Without it, a power cut soon after the rename can leave an empty file where the old one was.
      await handle.sync();
      stats = await handle.stat();
    } catch (error) {
      await handle.close();
      await unlink(temporary).catch(() => {});
      throw error;
    }
    await handle.close();
    try {
      await renameOver(temporary, this.path);
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw error;
    }
    // Rename keeps the inode, size and time: the next read knows the file without parsing it again.
    this.cache = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, records };
  }
}

const DEFAULT_STALE_LOCK_MS = 10_000;

function set(records: Records, key: string, json: string, expiresAt: number | undefined): string {
  const version = randomUUID();
  records.set(key, {
    key,
    value: JSON.parse(json) as unknown,
    version,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  });
  return version;
}

/** The value as JSON, checked before it waits for the lock, so one bad value cannot fail the others queued. */
function jsonOf(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`State store value for "${key}" is not JSON-serializable`);
  return json;
}

function parse(text: string, path: string): Records {
  let content: FileContent;
  try {
    content = JSON.parse(text) as FileContent;
  } catch (error) {
    // Never overwritten: a file that is not this store's (or was edited by hand) is for a person to look at.
    throw new Error(`File state store: ${path} is not valid JSON (${(error as Error).message})`);
  }
  if (content?.format !== 1 || typeof content.records !== 'object' || content.records === null) {
    throw new Error(`File state store: ${path} is not a mailroute state file (no "format": 1 and "records")`);
  }
  const records: Records = new Map();
  for (const [key, record] of Object.entries(content.records)) {
    records.set(key, {
      key,
      value: record.value,
      version: record.version,
      ...(typeof record.expiresAt === 'number' ? { expiresAt: record.expiresAt } : {}),
    });
  }
  return records;
}

function sameFile(known: { ino: number; size: number; mtimeMs: number }, stats: Stats): boolean {
  return known.ino === stats.ino && known.size === stats.size && known.mtimeMs === stats.mtimeMs;
}

/** Windows refuses to replace a file another process has open for a moment; POSIX never does. */
async function renameOver(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = codeOf(error);
      if ((code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES') || attempt >= 10) throw error;
      await sleep(10 + Math.random() * 20);
    }
  }
}

export interface FileLockOptions {
  /** A lock file older than this is removed as left behind by a dead process. */
  staleMs: number;
  /** How long to keep trying before throwing. */
  timeoutMs: number;
}

/** Lock files held by this process, removed if it exits (process.exit, an uncaught error) while holding them. */
const held = new Map<string, number>();
let exitHookInstalled = false;

/**
 * Takes the exclusive lock `lockPath`: creates it with O_EXCL (only one process can), or waits with a small
 * jittered backoff while another holds it, removing it once it is older than `staleMs` (its holder died: a
 * process killed while holding it cannot remove it). Throws an Error naming the lock file after `timeoutMs`.
 * Creates the lock's directory when missing. Resolves to the release, which removes the lock file if it is still
 * this one (not if it was taken for stale and broken meanwhile).
 *
 * A lock's age is its file's modification time: a holder is meant to keep it for milliseconds, never near
 * `staleMs`; one that did would have its lock broken under it.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + options.timeoutMs;
  let backoffMs = 2;
  for (;;) {
    let handle: FileHandle | undefined;
    try {
      handle = await open(lockPath, 'wx');
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ENOENT') {
        await mkdir(dirname(lockPath), { recursive: true });
        continue;
      }
      if (code !== 'EEXIST') throw error;
    }
    if (handle) {
      let ino: number;
      try {
        // For a person who finds it: who holds it, since when.
        await handle.writeFile(`${process.pid}@${hostname()} ${new Date().toISOString()}\n`);
        ino = (await handle.stat()).ino;
      } finally {
        await handle.close();
      }
      hold(lockPath, ino);
      return () => releaseFileLock(lockPath, ino);
    }
    if (await breakIfStale(lockPath, options.staleMs)) continue;
    if (Date.now() >= deadline) {
      throw new Error(
        `File state store: could not take the lock ${lockPath} within ${options.timeoutMs} ms: another process ` +
          `holds it (a lock older than ${options.staleMs} ms is removed as stale; delete it if no process is running)`,
      );
    }
    await sleep(Math.min(backoffMs * (0.5 + Math.random()), Math.max(1, deadline - Date.now())));
    backoffMs = Math.min(backoffMs * 2, 50);
  }
}

async function releaseFileLock(lockPath: string, ino: number): Promise<void> {
  held.delete(lockPath);
  try {
    if ((await stat(lockPath)).ino === ino) await unlink(lockPath);
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') throw error;
  }
}

function hold(lockPath: string, ino: number): void {
  held.set(lockPath, ino);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // Synchronous, as 'exit' handlers must be; best effort.
    for (const [path, lockIno] of held) {
      try {
        if (statSync(path).ino === lockIno) unlinkSync(path);
      } catch {
        // Gone already, or not ours to remove.
      }
    }
  });
}

/**
 * Removes the lock if it is older than `staleMs`; true when it is gone (removed, or released meanwhile). Breakers
 * take turns through a second lock file (`.break`), and a breaker removes the lock only if it is still the very
 * file found stale (same inode and time): two waiters that both found it stale cannot remove, the second one, the
 * fresh lock the first one's successor took meanwhile.
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const found = await statOrUndefined(lockPath);
  if (!found) return true;
  if (Date.now() - found.mtimeMs < staleMs) return false;
  const breaker = `${lockPath}.break`;
  let handle: FileHandle;
  try {
    handle = await open(breaker, 'wx');
  } catch (error) {
    if (codeOf(error) !== 'EEXIST') throw error;
    // Another waiter is breaking it; its own breaker lock can only be left behind by a crash within this function.
    const other = await statOrUndefined(breaker);
    if (other && Date.now() - other.mtimeMs >= staleMs) await unlink(breaker).catch(() => {});
    return false;
  }
  await handle.close();
  try {
    const now = await statOrUndefined(lockPath);
    if (!now) return true;
    if (now.ino !== found.ino || now.mtimeMs !== found.mtimeMs) return false;
    await unlink(lockPath).catch((error: unknown) => {
      if (codeOf(error) !== 'ENOENT') throw error;
    });
    return true;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
