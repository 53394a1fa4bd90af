import { describe, expect, it } from 'vitest';
import { type Adapter, ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { TransientError } from '../../core/errors.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { DEFAULT_RETRY, sendWithFailover } from '../../core/routing/failover.ts';
import { HealthTracker } from '../../core/routing/health.ts';
import { RateLimiter } from '../../core/routing/rate-limit.ts';
import { silentLogger } from '../../core/util/log.ts';
import { MemoryStore } from '../../stores/memory.ts';

/** An adapter that fails its first send with a passing fault: the one rare error this test needs to force. */
function flakyAdapter(): Adapter & { calls: number } {
  return {
    name: 'flaky',
    provider: 'test',
    mode: 'api',
    capabilities: ALL_CAPABILITIES,
    limits: { maxEncodedBytes: 1_000_000, maxRecipients: 50 },
    calls: 0,
    async send(prepared) {
      this.calls += 1;
      if (this.calls === 1) throw new TransientError('421 try again', { provider: 'test', mode: 'api' });
      return { accepted: prepared.envelope.to, rejected: [] };
    },
    async verify() {},
    async close() {},
  };
}

describe('a retry on the same provider', () => {
  it('takes its own rate-limit slot: with none free and no wait allowed, it is not sent', async () => {
    const adapter = flakyAdapter();
    const limiter = new RateLimiter('flaky', [{ limit: 1, per: 'second', burst: 1 }]);
    const prepared = await composeMessage(
      normalizeMessage({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' }),
    );
    const plan = {
      route: 'r',
      why: '',
      candidates: [{ name: 'flaky', why: '' }],
      excluded: [],
      allowDuplicates: false,
    };
    const error = await sendWithFailover(prepared, plan, {
      adapter: async () => adapter,
      health: new HealthTracker(new MemoryStore()),
      limiter: () => limiter,
      retry: { ...DEFAULT_RETRY, maxAttempts: 2, baseDelayMs: 0, maxRateWaitMs: 0 },
      log: silentLogger,
      random: () => 0,
    }).catch((e: unknown) => e as { attempts: { outcome: string; errorCode?: string; reason?: string }[] });
    expect(adapter.calls).toBe(1);
    expect((error as { attempts: unknown[] }).attempts).toEqual([
      expect.objectContaining({ outcome: 'failed', errorCode: 'TRANSIENT' }),
      expect.objectContaining({
        outcome: 'skipped',
        errorCode: 'THROTTLED',
        reason: expect.stringMatching(/^rate limit/),
      }),
    ]);
  });
});
