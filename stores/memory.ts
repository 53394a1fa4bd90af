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

/** The default store: one process's memory. Health, limits and idempotency then hold for this instance only. */
export class MemoryStore implements StateStore {
  private readonly records = new Map<string, StoredRecord>();
  /** Rate-rule state, apart from the records: `reserveRate` keys are not `get`/`put` keys. */
  private readonly rates = new Map<string, { tats: number[]; expiresAt: number }>();
  private counter = 0;

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
