import { describe, expect, it } from 'vitest';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { DEFAULT_RETRY, nextStep } from '../../core/routing/retry-policy.ts';

const retry = { ...DEFAULT_RETRY, maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 1_000, maxThrottleWaitMs: 2_000 };
const half = () => 0.5;

describe('nextStep: each decision from the error flags', () => {
  it('retries a blip on the same provider with jitter, then moves on', () => {
    expect(nextStep(new TransientError('421'), 1, retry, false, half)).toEqual({ kind: 'retry', waitMs: 50 });
    expect(nextStep(new TransientError('421'), 2, retry, false, half)).toEqual({ kind: 'next' });
  });

  it("waits a throttle's Retry-After when it fits, else moves on", () => {
    expect(nextStep(new ThrottledError('slow', { retryAfterMs: 1_500 }), 1, retry, false, half)).toEqual({
      kind: 'retry',
      waitMs: 1_500,
    });
    expect(nextStep(new ThrottledError('quota', { retryAfterMs: 60_000 }), 1, retry, false, half)).toEqual({
      kind: 'next',
    });
  });

  it('moves on at once from an outage or a credential problem, and stops at a rejection of the message', () => {
    expect(nextStep(new ProviderUnavailableError('down'), 1, retry, false, half)).toEqual({ kind: 'next' });
    expect(nextStep(new AuthenticationError('535'), 1, retry, false, half)).toEqual({ kind: 'next' });
    const rejected = new RecipientRejectedError([{ address: 'a@example.com', reason: 'no such user' }]);
    expect(nextStep(rejected, 1, retry, true, half)).toEqual({ kind: 'stop' });
  });

  it('never sends an ambiguous message elsewhere, unless the route accepts duplicates', () => {
    expect(nextStep(new AmbiguousDeliveryError('dropped'), 1, retry, false, half)).toEqual({ kind: 'stop' });
    expect(nextStep(new AmbiguousDeliveryError('dropped'), 1, retry, true, half)).toEqual({ kind: 'next' });
  });
});
