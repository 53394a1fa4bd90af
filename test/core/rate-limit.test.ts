import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../core/routing/rate-limit.ts';
import { MemoryStore } from '../../stores/memory.ts';

// The clock is passed in, so these check the bucket arithmetic, not the machine's timing; a zero wait budget
// means nothing sleeps.
describe('RateLimiter', () => {
  it('spends the burst, then spaces sends at the configured rate', async () => {
    const limiter = new RateLimiter('ses', [{ limit: 10, per: 'second' }]);
    const t = 1_000_000;
    for (let i = 0; i < 10; i++) expect(await limiter.acquire(0, t)).toEqual({ ok: true, waitedMs: 0 });
    expect(await limiter.acquire(0, t)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(await limiter.acquire(0, t + 100)).toEqual({ ok: true, waitedMs: 0 });
    expect(await limiter.acquire(0, t + 100)).toEqual({ ok: false, retryAfterMs: 100 });
  });

  it('reserves future slots in order for concurrent callers willing to wait', async () => {
    const limiter = new RateLimiter('ses', [{ limit: 2, per: 'second', burst: 1 }]);
    const t = 5_000_000;
    expect(await limiter.acquire(0, t)).toEqual({ ok: true, waitedMs: 0 });
    // Each reservation queues behind the previous one: 500 ms apart at 2/s.
    const reservations = [limiter.acquire(2_000, t), limiter.acquire(2_000, t), limiter.acquire(2_000, t)];
    expect((await Promise.all(reservations)).map((r) => (r.ok ? r.waitedMs : -1))).toEqual([500, 1000, 1500]);
  });

  it('applies every rule: ACS per-minute and per-hour quotas', async () => {
    const limiter = new RateLimiter('acs', [
      { limit: 30, per: 'minute', burst: 30 },
      { limit: 100, per: 'hour', burst: 40 },
    ]);
    const t = 9_000_000;
    let sent = 0;
    while ((await limiter.acquire(0, t)).ok) sent++;
    expect(sent).toBe(30);
    // A minute later the minute bucket is full again but the hour bucket only has 10 left (+ a trickle).
    let later = 0;
    while ((await limiter.acquire(0, t + 60_000)).ok) later++;
    expect(later).toBe(11);
  });

  it('shares one bucket between instances through the store', async () => {
    const store = new MemoryStore();
    const a = new RateLimiter('ses', [{ limit: 5, per: 'second' }], store);
    const b = new RateLimiter('ses', [{ limit: 5, per: 'second' }], store);
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).acquire(0, now)));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
  });
});
