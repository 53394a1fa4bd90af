import { gcraReserve } from '../core/routing/rate-limit.ts';
import { cloneData } from '../core/util/clone.ts';
// The same contract types as the other stores import, on purpose: each implements store.ts's StateStore.
import {
  expiryFrom,
  isLive,
  type ListOptions,
  type ListPage,
  type RateGrant,
  type RateRequest,
  type RateRule,
  type StateStore,
  type StoredRecord,
  type WriteOptions,
} from './store.ts';

/**
 * How many records a memory store keeps at most, by default. A send writes a few (the idempotency record, the event
 * correlation of each message, kept 30 days): about 1.2 KB a send, so a long-running `serve` would otherwise grow
 * by about 120 MB every 100,000 sends until its records expire.
 */
export const DEFAULT_MAX_MEMORY_RECORDS = 100_000;

export interface MemoryStoreOptions {
  /** Records kept at most; past it, the least recently written go first. Default DEFAULT_MAX_MEMORY_RECORDS. */
  maxRecords?: number;
}

/**
 * The default store: one process's memory. Health, limits and idempotency then hold for this instance only, and for
 * its last `maxRecords` records: past that many, the least recently written record is dropped (a message whose
 * idempotency record went that way is no longer recognized if it comes again, as after a restart).
 */
export class MemoryStore implements StateStore {
  private readonly records = new Map<string, StoredRecord>();
  readonly maxRecords: number;
  /** Records dropped for room so far. */
  evicted = 0;
  /** Rate-rule state, apart from the records: `reserveRate` keys are not `get`/`put` keys. */
  private readonly rates = new Map<string, { tats: number[]; expiresAt: number }>();
  private counter = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxRecords = options.maxRecords ?? DEFAULT_MAX_MEMORY_RECORDS;
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const record = this.records.get(key);
    if (!isLive(record)) return undefined;
    return cloneData(record) as StoredRecord<T>;
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined> {
    if (isLive(this.records.get(key))) return undefined;
    return this.write(key, value, options);
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined> {
    const current = this.records.get(key);
    if (!isLive(current) || current!.version !== version) return undefined;
    return this.write(key, value, options);
  }

  async delete(key: string, version?: string): Promise<void> {
    if (version === undefined || this.records.get(key)?.version === version) this.records.delete(key);
  }

  /**
   * The live records under `prefix` in key order; the cursor is the last key of the page (the next page starts
   * after it), so records written or deleted between pages neither shift nor repeat the others.
   */
  async list<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    return listSorted<T>(this.records, prefix, options);
  }

  /** Atomic by construction: one synchronous GCRA step, nothing can interleave in this process. */
  async reserveRate(key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant> {
    const now = Date.now();
    const state = this.rates.get(key);
    const tats = state && state.expiresAt > now ? state.tats : [];
    const step = gcraReserve(tats, rules, request.now, request.maxWaitMs);
    if (step.grant.ok) {
      const merged = [...tats];
      step.tats.forEach((tat, i) => {
        merged[i] = tat;
      });
      this.rates.set(key, { tats: merged, expiresAt: now + request.ttlMs });
    }
    return step.grant;
  }

  private write<T>(key: string, value: T, options?: WriteOptions): string {
    const expiresAt = expiryFrom(options);
    this.counter += 1;
    const version = String(this.counter);
    // Deleted first so that the map's order is the order of the last writes: the first key is the one to drop.
    this.records.delete(key);
    while (this.records.size >= this.maxRecords) {
      this.records.delete(this.records.keys().next().value!);
      this.evicted++;
    }
    this.records.set(key, {
      key,
      value: cloneData(value),
      version,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    return version;
  }
}

/** Default page size of `list` (see `ListOptions.limit`). */
export const DEFAULT_LIST_LIMIT = 1000;

/** The page size asked for, checked: a positive whole number, DEFAULT_LIST_LIMIT when not given. */
export function listLimit(options: ListOptions | undefined): number {
  const limit = options?.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`list limit must be a positive integer, not ${limit}`);
  return limit;
}

/**
 * One page of the live records under `prefix` from an in-memory map, sorted by key, the cursor being the page's
 * last key. Shared by the stores that hold every record in one map (memory, file).
 */
export function listSorted<T>(
  records: ReadonlyMap<string, StoredRecord>,
  prefix: string,
  options: ListOptions | undefined,
  now = Date.now(),
): ListPage<T> {
  const limit = listLimit(options);
  const after = options?.cursor;
  const keys = [...records.keys()]
    .filter((key) => key.startsWith(prefix) && (after === undefined || key > after) && isLive(records.get(key), now))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const page = keys.slice(0, limit).map((key) => cloneData(records.get(key)!) as StoredRecord<T>);
  return keys.length > limit ? { records: page, cursor: keys[limit - 1]! } : { records: page };
}
