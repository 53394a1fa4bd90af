import { describe, expect, it } from 'vitest';
import { AuthenticationError, RecipientRejectedError, ThrottledError } from '../../core/errors.ts';
import { HealthTracker } from '../../core/routing/health.ts';
import { MemoryStore } from '../../stores/memory.ts';

// Times are passed in, so these check the decisions, not the machine's timing.
describe('HealthTracker', () => {
  it('marks a provider down for as long as its throttle says, not for the whole cool-down', async () => {
    const health = new HealthTracker(new MemoryStore(), { cooldownMs: 30_000 });
    const now = Date.now();
    await health.recordFailure('ses', new ThrottledError('slow down', { retryAfterMs: 1_000 }), 500);
    expect(await health.availability('ses', now + 100)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^marked down: THROTTLED/),
    });
    expect(await health.availability('ses', now + 1_200)).toEqual({ ok: true });
  });

  it('does not mark a provider down for a throttle short enough to wait out', async () => {
    const health = new HealthTracker(new MemoryStore());
    await health.recordFailure('ses', new ThrottledError('slow down', { retryAfterMs: 200 }), 500);
    expect(await health.availability('ses')).toEqual({ ok: true });
  });

  it('marks it down for the cool-down after a credential failure, and never for a rejected recipient', async () => {
    const store = new MemoryStore();
    const health = new HealthTracker(store, { cooldownMs: 10_000 });
    const now = Date.now();
    await health.recordFailure('acs', new RecipientRejectedError([{ address: 'a@example.com', reason: '550' }]), 500);
    expect(await health.availability('acs', now)).toEqual({ ok: true });
    await health.recordFailure('acs', new AuthenticationError('535'), 500);
    // Another instance sharing the store sees it too.
    const other = new HealthTracker(store, { cooldownMs: 10_000 });
    expect(await other.availability('acs', now + 5_000)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/AUTHENTICATION/),
    });
    expect(await other.availability('acs', now + 10_500)).toEqual({ ok: true });
  });
});

describe('HealthTracker, when a mark runs out', () => {
  it('lets one instance probe while the others keep away, and clears the mark for all when the probe succeeds', async () => {
    const store = new MemoryStore();
    const a = new HealthTracker(store, { cooldownMs: 10_000, sharedCacheMs: 0 });
    const b = new HealthTracker(store, { cooldownMs: 10_000, sharedCacheMs: 0 });
    // A mark that has already run out.
    await a.markDown('ses', 'PROVIDER_UNAVAILABLE: down', Date.now() - 20_000, 1);
    expect(await a.availability('ses')).toEqual({ ok: true });
    expect(await b.availability('ses')).toEqual({ ok: false, reason: 'marked down: another instance is probing it' });
    await a.recordSuccess('ses');
    expect(await store.get('health:ses')).toBeUndefined();
    expect(await b.availability('ses')).toEqual({ ok: true });
  });

  it('marks it down again for a cool-down when the probe fails, and frees the probe slot', async () => {
    const store = new MemoryStore();
    const a = new HealthTracker(store, { cooldownMs: 10_000, sharedCacheMs: 0 });
    const b = new HealthTracker(store, { cooldownMs: 10_000, sharedCacheMs: 0 });
    await a.markDown('ses', 'PROVIDER_UNAVAILABLE: down', Date.now() - 20_000, 1);
    expect(await a.availability('ses')).toEqual({ ok: true });
    await a.recordFailure('ses', new AuthenticationError('535 still refused'), 500);
    expect(await b.availability('ses')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^marked down: AUTHENTICATION/),
    });
    expect(await store.get('probe:ses')).toBeUndefined();
  });
});
