import { CircuitState } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { AmbiguousDeliveryError, RecipientRejectedError, ThrottledError } from '../../core/errors.ts';
import { HealthTracker } from '../../core/routing/health.ts';
import { countsAgainstProvider, providerBreaker, SlowCall } from '../../core/routing/health-policy.ts';
import { MemoryStore } from '../../stores/memory.ts';

const options = { failureThreshold: 3, failureRate: 0.25, failureWindow: 8, slowCallMs: 50 };

describe('the health policy', () => {
  it('counts silent failures and slow calls against a provider, never a rejected recipient or a throttle', () => {
    expect(countsAgainstProvider(new AmbiguousDeliveryError('no answer after the request'))).toBe(true);
    expect(countsAgainstProvider(new SlowCall('result', 80))).toBe(true);
    expect(countsAgainstProvider(new RecipientRejectedError([{ address: 'a@b.c', reason: 'x' }]))).toBe(false);
    expect(countsAgainstProvider(new ThrottledError('slow down'))).toBe(false);
  });

  it('opens on failures in a row, or on a failure rate among successes', () => {
    const inARow = providerBreaker(options);
    expect([1, 2, 3].map(() => inARow.failure(CircuitState.Closed))).toEqual([false, false, true]);

    // One failure in three, never two in a row: only the rate can see it.
    const partial = providerBreaker(options);
    const opened = Array.from({ length: 8 }, (_, i) => {
      if (i % 3 === 2) return partial.failure(CircuitState.Closed);
      partial.success(CircuitState.Closed);
      return false;
    });
    expect(opened.some(Boolean)).toBe(true);
  });

  it('returns a slow send its result, and opens the circuit after enough of them', async () => {
    const health = new HealthTracker(new MemoryStore(), { ...options, cooldownMs: 60_000 });
    const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve('sent'), 60));
    for (let i = 0; i < 3; i++) expect(await health.run('p', slow)).toBe('sent');
    expect(health.state('p')).toBe('open');
  });
});
