import type { MailrouteError } from '../errors.ts';

export interface RetryOptions {
  /** Tries per provider for transient errors and short throttles. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After waited on one provider; longer ones move to the next provider. */
  maxThrottleWaitMs: number;
  /** The longest wait for a rate-limit slot on one provider before moving on. */
  maxRateWaitMs: number;
  /**
   * Time kept back inside the send, before its deadline, for the router to record the last attempt and return by it.
   * What follows the send (a dead-letter write, the answer) is the functions' `MAILROUTE_DEADLINE_MARGIN_MS`.
   */
  safetyMarginMs: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 2,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  maxThrottleWaitMs: 2_000,
  maxRateWaitMs: 5_000,
  safetyMarginMs: 250,
};

/** After a failed attempt: try the same provider again after `waitMs`, move to the next one, or stop. */
export type NextStep = { kind: 'retry'; waitMs: number } | { kind: 'next' } | { kind: 'stop' };

/**
 * Decides from the error's declared flags alone, never from its code:
 * - it may have been delivered: stop (another provider would send it twice), unless the route accepts duplicates;
 * - `retryNow` (a blip, a short throttle) and tries left: again after its Retry-After if that fits, else after a
 *   full-jitter backoff;
 * - `failover`: the next provider;
 * - neither: stop, the error is the answer (a rejection of the message would be refused anywhere).
 */
export function nextStep(
  error: MailrouteError,
  attempt: number,
  retry: RetryOptions,
  allowDuplicates: boolean,
  random: () => number,
): NextStep {
  if (error.mayHaveDelivered) return allowDuplicates ? { kind: 'next' } : { kind: 'stop' };
  const wait = error.retryNow && attempt < retry.maxAttempts ? retryWait(error, attempt, retry, random) : undefined;
  if (wait !== undefined) return { kind: 'retry', waitMs: wait };
  return error.failover ? { kind: 'next' } : { kind: 'stop' };
}

function retryWait(error: MailrouteError, attempt: number, retry: RetryOptions, random: () => number) {
  const retryAfterMs = (error as MailrouteError & { retryAfterMs?: number }).retryAfterMs;
  if (retryAfterMs !== undefined) return retryAfterMs <= retry.maxThrottleWaitMs ? retryAfterMs : undefined;
  // Full jitter: spreads the retries of many senders hit by the same blip.
  const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * cap);
}
