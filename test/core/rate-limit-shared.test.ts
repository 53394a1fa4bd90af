import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter, reserveByCompareAndSet } from '../../core/routing/rate-limit.ts';
import type { Logger } from '../../core/util/log.ts';
import { MemoryStore } from '../../stores/memory.ts';
import type { RateGrant, RateRequest, RateRule, StateStore } from '../../stores/store.ts';

/** Only the four methods (no `reserveRate`), over a shared MemoryStore, each call after a random few ms. */
function fourMethodStore(shared: MemoryStore, options: { loseEveryWrite?: boolean } = {}): StateStore {
  const jitter = () => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 4)));
  return {
    get: async (key) => {
      await jitter();
      return shared.get(key);
    },
    put: async (key, value, writeOptions) => {
      await jitter();
      return options.loseEveryWrite ? undefined : shared.put(key, value, writeOptions);
    },
    update: async (key, value, version, writeOptions) => {
      await jitter();
      return options.loseEveryWrite ? undefined : shared.update(key, value, version, writeOptions);
    },
    delete: (key, version) => shared.delete(key, version),
  };
}

function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = {
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  };
  return { log, lines };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('RateLimiter with a shared store', () => {
  it('reserves through the store’s atomic reserveRate when it has one', async () => {
    const store = new MemoryStore();
    const reserve = vi.spyOn(store, 'reserveRate');
    const limiter = new RateLimiter('ses', [{ limit: 14, per: 'second', burst: 2 }], store);
    const now = Date.now();
    expect(await limiter.acquire(0, now)).toEqual({ ok: true, waitedMs: 0 });
    expect(reserve).toHaveBeenCalledWith('gcra:ses', [{ intervalMs: 1000 / 14, burst: 2 }], {
      now,
      maxWaitMs: 0,
      ttlMs: expect.any(Number),
    });
  });

  it('three instances racing through compare-and-set (a four-method store) grant exactly the burst', async () => {
    const shared = new MemoryStore();
    // Each instance has its own store client, as separate processes would: they race each other's versions.
    const limiters = [0, 1, 2].map(
      () => new RateLimiter('acs', [{ limit: 6, per: 'minute', burst: 6 }], fourMethodStore(shared)),
    );
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 45 }, (_, i) => limiters[i % 3]!.acquire(0, now)));
    expect(results.filter((r) => r.ok)).toHaveLength(6);
    // The refused were told when the next slot is (10 s after the burst), and took nothing.
    for (const r of results.filter((r) => !r.ok)) expect(r).toEqual({ ok: false, retryAfterMs: expect.any(Number) });
    expect(Math.max(...results.map((r) => (r.ok ? 0 : r.retryAfterMs)))).toBeLessThanOrEqual(10_000);
    expect(Math.min(...results.map((r) => (r.ok ? 10_000 : r.retryAfterMs)))).toBeGreaterThan(9_000);
  });

  it('serves one process’s concurrent callers in batches: few compare-and-set rounds for many callers', async () => {
    const shared = new MemoryStore();
    const store = fourMethodStore(shared);
    const update = vi.spyOn(store, 'update');
    const put = vi.spyOn(store, 'put');
    const rules: RateRule[] = [{ intervalMs: 100, burst: 1 }];
    const now = Date.now();
    const grants = await Promise.all(
      Array.from({ length: 30 }, () =>
        reserveByCompareAndSet(store, 'k', rules, { now, maxWaitMs: 60_000, ttlMs: 120_000 }),
      ),
    );
    const slots = grants.map((g) => (g.ok ? g.at - now : Number.NaN)).sort((a, b) => a - b);
    // One slot per interval, none shared; the clock the store adds for time spent queued shifts them a few ms.
    for (const [i, slot] of slots.entries()) expect(slot).toBeCloseTo(slots[0]! + i * 100, 6);
    expect(slots[0]).toBeLessThan(50);
    expect(update.mock.calls.length + put.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it('never grants from anywhere else when it keeps losing: refused, not a local bucket', async () => {
    // No backoff, so the 40 lost rounds take no time.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const store = fourMethodStore(new MemoryStore(), { loseEveryWrite: true });
    const { log, lines } = recordingLogger();
    const limiter = new RateLimiter('ses', [{ limit: 10, per: 'second' }], store, { log });
    const results = await Promise.all(Array.from({ length: 5 }, () => limiter.acquire(5_000)));
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(results[0]).toEqual({ ok: false, retryAfterMs: expect.any(Number) });
    // Contention is not an outage: nothing falls back to a local share.
    expect(lines).toEqual([]);
  });
});

describe('RateLimiter when the store cannot be reached', () => {
  /** A store whose rate reservations fail while `down`, like an unreachable server. */
  function flakyStore() {
    const inner = new MemoryStore();
    const state = { down: true, calls: 0 };
    const store: StateStore = {
      get: (key) => inner.get(key),
      put: (key, value, options) => inner.put(key, value, options),
      update: (key, value, version, options) => inner.update(key, value, version, options),
      delete: (key, version) => inner.delete(key, version),
      reserveRate: async (key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant> => {
        state.calls += 1;
        if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
        return inner.reserveRate(key, rules, request);
      },
    };
    return { store, state };
  }

  it('paces itself at limit / instances (burst too), and says so once per outage', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t = Date.now();
    const { store, state } = flakyStore();
    const { log, lines } = recordingLogger();
    const limiter = new RateLimiter('ses', [{ limit: 10, per: 'second', instances: 5 }], store, { log });
    // Its share: 2/s, a burst of 2 (10 / 5).
    expect(await limiter.acquire(0, t)).toEqual({ ok: true, waitedMs: 0 });
    expect(await limiter.acquire(0, t)).toEqual({ ok: true, waitedMs: 0 });
    expect(await limiter.acquire(0, t)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(await limiter.acquire(0, t + 500)).toEqual({ ok: true, waitedMs: 0 });
    expect(await limiter.acquire(0, t + 500)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'rate limit store unreachable: pacing this instance alone at its share of the limit',
        fields: {
          provider: 'ses',
          error: 'connect ECONNREFUSED 127.0.0.1:6379',
          share: [{ limit: 2, per: 'second', instances: 5 }],
        },
      },
    ]);
    // Only one call went to the store: the others did not wait on it again within the second.
    expect(state.calls).toBe(1);

    // A second later one call asks the store again; still down: no new log line.
    vi.setSystemTime(t + 1_100);
    expect(await limiter.acquire(0, t + 1_100)).toEqual({ ok: true, waitedMs: 0 });
    expect(state.calls).toBe(2);
    expect(lines).toHaveLength(1);

    // Back: the next probe reserves from the shared state again, and the log says so once.
    state.down = false;
    vi.setSystemTime(t + 2_200);
    for (let i = 0; i < 10; i++) expect((await limiter.acquire(0, t + 2_200)).ok).toBe(true);
    expect((await limiter.acquire(0, t + 2_200)).ok).toBe(false);
    expect(lines.slice(1)).toEqual([
      expect.objectContaining({ level: 'info', msg: 'rate limit store reachable again: pacing from the shared limit' }),
    ]);
  });

  it('assumes 10 instances when the rule does not say', async () => {
    // The clock stands still: the time the failing store call took is added to the caller's `now`, and on a loaded
    // machine a few milliseconds of it would spend part of the burst before the third call.
    vi.useFakeTimers({ toFake: ['Date'] });
    const { store } = flakyStore();
    const { log } = recordingLogger();
    const limiter = new RateLimiter('acs', [{ limit: 30, per: 'second' }], store, { log });
    const t = Date.now();
    // 3/s each, a burst of 3.
    for (let i = 0; i < 3; i++) expect((await limiter.acquire(0, t)).ok).toBe(true);
    expect(await limiter.acquire(0, t)).toEqual({ ok: false, retryAfterMs: 334 });
  });
});
