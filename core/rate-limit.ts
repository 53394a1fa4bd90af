import { sleep } from './sleep.ts';
import type { StateStore } from './store.ts';

export interface RateLimitRule {
  /** Sends allowed per window. */
  limit: number;
  per: 'second' | 'minute' | 'hour' | 'day';
  /** Sends allowed at once after a quiet spell; default: one window's worth for per-second, else 1/60 of it. */
  burst?: number;
}

const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type Acquired = { ok: true; waitedMs: number } | { ok: false; retryAfterMs: number };

function capacity(rule: RateLimitRule): number {
  // A per-minute or longer quota is paced evenly rather than spent in one burst at the top of the window.
  return rule.burst ?? (rule.per === 'second' ? rule.limit : Math.max(1, Math.floor(rule.limit / 60)));
}

/**
 * Token buckets for one provider entry (one per rule: ACS has per-minute and per-hour quotas). Each caller
 * reserves its slot at once, possibly in the future (the bucket goes negative), then waits for it: concurrent
 * senders are spaced out evenly instead of all waking together. With a shared store, every instance reserves
 * from the same buckets through compare-and-set.
 */
export class RateLimiter {
  private readonly rules: RateLimitRule[];
  private readonly key: string;
  private readonly store?: StateStore;
  private local: Bucket[] | undefined;

  constructor(name: string, rules: RateLimitRule[], store?: StateStore) {
    this.rules = rules;
    this.key = `rate:${name}`;
    this.store = store;
  }

  /** Reserves one send, waiting for it when the wait is at most `maxWaitMs`; otherwise reserves nothing. */
  async acquire(maxWaitMs: number, now = Date.now()): Promise<Acquired> {
    if (this.rules.length === 0) return { ok: true, waitedMs: 0 };
    const waitMs = this.store ? await this.reserveShared(maxWaitMs, now) : this.reserveLocal(maxWaitMs, now);
    if (waitMs.ok && waitMs.waitedMs > 0) await sleep(waitMs.waitedMs);
    return waitMs;
  }

  private reserveLocal(maxWaitMs: number, now: number): Acquired {
    const { buckets, result } = this.reserve(this.local, maxWaitMs, now);
    if (result.ok) this.local = buckets;
    return result;
  }

  private async reserveShared(maxWaitMs: number, now: number): Promise<Acquired> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const record = await this.store!.get<Bucket[]>(this.key);
      const { buckets, result } = this.reserve(record?.value, maxWaitMs, now);
      if (!result.ok) return result;
      const ttlMs = Math.max(...this.rules.map((r) => WINDOW_MS[r.per])) * 2;
      const written = record
        ? await this.store!.update(this.key, buckets, record.version, { ttlMs })
        : await this.store!.put(this.key, buckets, { ttlMs });
      if (written) return result;
      now = Date.now();
    }
    // Heavy contention: fall back to this instance's own pacing rather than failing the send.
    return this.reserveLocal(maxWaitMs, now);
  }

  private reserve(state: Bucket[] | undefined, maxWaitMs: number, now: number) {
    const buckets = this.rules.map((rule, i) => {
      const cap = capacity(rule);
      const rate = rule.limit / WINDOW_MS[rule.per];
      const previous = state?.[i] ?? { tokens: cap, updatedAt: now };
      const tokens = Math.min(cap, previous.tokens + (now - previous.updatedAt) * rate);
      return { tokens: tokens - 1, updatedAt: now, rate };
    });
    const waitMs = Math.max(0, ...buckets.map((b) => (b.tokens < 0 ? -b.tokens / b.rate : 0)));
    const result: Acquired =
      waitMs <= maxWaitMs ? { ok: true, waitedMs: Math.ceil(waitMs) } : { ok: false, retryAfterMs: Math.ceil(waitMs) };
    return { buckets: buckets.map(({ tokens, updatedAt }) => ({ tokens, updatedAt })), result };
  }
}
