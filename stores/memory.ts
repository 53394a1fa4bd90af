import { gcraReserve } from '../core/routing/rate-limit.ts';
// The same contract types as the other stores import, on purpose: each implements store.ts's StateStore.
import {
  expiryFrom,
  isLive,
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
    return structuredClone(record) as StoredRecord<T>;
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
      value: structuredClone(value),
      version,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    return version;
  }
}
