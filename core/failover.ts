import { type Adapter, type AdapterSendResult, checkCapabilities } from './adapter.ts';
import type { PreparedMessage } from './compose.ts';
import {
  AllProvidersFailedError,
  type Attempt,
  DeadlineExceededError,
  isMailrouteError,
  type MailrouteError,
  ProviderUnavailableError,
  ThrottledError,
} from './errors.ts';
import { HealthTracker } from './health.ts';
import type { Logger } from './log.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Plan } from './routing.ts';
import { sleep } from './sleep.ts';

export interface RetryOptions {
  /** Tries per provider for transient errors and short throttles. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After waited on one provider; longer ones move to the next provider. */
  maxThrottleWaitMs: number;
  /** The longest wait for a rate-limit slot on one provider before moving on. */
  maxRateWaitMs: number;
  /** Time kept back before the deadline to answer (and for the queue to take the message back). */
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

export interface FailoverDeps {
  adapter(name: string): Promise<Adapter>;
  health: HealthTracker;
  limiter(name: string): RateLimiter;
  retry: RetryOptions;
  log: Logger;
  random?: () => number;
}

export interface FailoverOutcome {
  adapter: Adapter;
  sent: AdapterSendResult;
  attempts: Attempt[];
}

/**
 * Tries the plan's providers in order and decides from each error's class: a rejection of the message stops
 * at once (another provider would reject it too); an ambiguous failure stops unless the route accepts
 * duplicates; throttling waits if the Retry-After fits, else moves on; transient errors retry with jitter,
 * then move on; an outage or a credential problem moves on at once and marks the provider down.
 */
export async function sendWithFailover(
  prepared: PreparedMessage,
  plan: Plan,
  deps: FailoverDeps,
  deadline?: number,
): Promise<FailoverOutcome> {
  const attempts: Attempt[] = [];
  const errors: MailrouteError[] = [];
  const { retry } = deps;
  const remaining = () =>
    deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now() - retry.safetyMarginMs;
  let deadlineHit = false;

  const record = (attempt: Attempt) => {
    attempts.push(attempt);
    deps.log.info('attempt', { messageId: prepared.messageId, ...attempt });
  };

  for (const candidate of plan.candidates) {
    if (remaining() <= 0) {
      deadlineHit = true;
      break;
    }
    let adapter: Adapter;
    try {
      adapter = await deps.adapter(candidate.name);
    } catch (error) {
      const e = asMailrouteError(error, candidate.name);
      errors.push(e);
      record({
        name: candidate.name,
        provider: e.provider ?? '?',
        mode: e.mode ?? 'api',
        outcome: 'failed',
        errorCode: e.code,
        error: e.toJSON(),
        latencyMs: 0,
      });
      continue;
    }
    const base = { name: adapter.name, provider: adapter.provider, mode: adapter.mode };
    const availability = await deps.health.availability(adapter.name);
    if (!availability.ok) {
      record({ ...base, outcome: 'skipped', reason: availability.reason, latencyMs: 0 });
      errors.push(
        new ProviderUnavailableError(availability.reason, { provider: adapter.provider, mode: adapter.mode }),
      );
      continue;
    }
    try {
      await checkCapabilities(prepared, adapter);
    } catch (error) {
      const e = error as MailrouteError;
      errors.push(e);
      record({ ...base, outcome: 'skipped', errorCode: e.code, reason: e.message, latencyMs: 0 });
      continue;
    }
    const slot = await deps.limiter(adapter.name).acquire(Math.min(retry.maxRateWaitMs, remaining()));
    if (!slot.ok) {
      const reason = `rate limit: next slot in ${slot.retryAfterMs} ms`;
      errors.push(
        new ThrottledError(reason, { provider: adapter.provider, mode: adapter.mode, retryAfterMs: slot.retryAfterMs }),
      );
      record({ ...base, outcome: 'skipped', errorCode: 'THROTTLED', reason, latencyMs: 0 });
      continue;
    }

    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      if (attempt > 1) {
        // A retry is one more send to the provider: it takes its own slot, so retries cannot break the pace.
        const again = await deps.limiter(adapter.name).acquire(Math.min(retry.maxRateWaitMs, remaining()));
        if (!again.ok) {
          record({
            ...base,
            outcome: 'skipped',
            errorCode: 'THROTTLED',
            reason: `rate limit: next slot in ${again.retryAfterMs} ms`,
            latencyMs: 0,
          });
          break;
        }
      }
      const started = Date.now();
      try {
        const sent = await deps.health.run(adapter.name, () =>
          adapter.send(prepared, deadline === undefined ? {} : { deadline: deadline - retry.safetyMarginMs }),
        );
        await deps.health.recordSuccess(adapter.name);
        record({
          ...base,
          outcome: 'sent',
          ...(sent.providerMessageId ? { providerMessageId: sent.providerMessageId } : {}),
          latencyMs: Date.now() - started,
        });
        return { adapter, sent, attempts };
      } catch (error) {
        if (HealthTracker.isOpenCircuit(error)) {
          record({ ...base, outcome: 'skipped', reason: 'circuit open', latencyMs: 0 });
          errors.push(new ProviderUnavailableError('circuit open', { provider: adapter.provider, mode: adapter.mode }));
          break;
        }
        const e = asMailrouteError(error, adapter.name, adapter);
        record({ ...base, outcome: 'failed', errorCode: e.code, error: e.toJSON(), latencyMs: Date.now() - started });
        await deps.health.recordFailure(adapter.name, e, retry.maxThrottleWaitMs);
        if (!e.retryable && !e.failover) {
          if (e.code === 'AMBIGUOUS' && plan.allowDuplicates) {
            errors.push(e);
            break;
          }
          e.attempts = attempts;
          throw e;
        }
        errors.push(e);
        const wait = waitBeforeRetry(e, attempt, retry, deps.random ?? Math.random);
        if (wait === undefined || attempt === retry.maxAttempts) break;
        if (wait > remaining()) {
          deadlineHit = remaining() <= 0;
          break;
        }
        await sleep(wait);
      }
    }
  }
  if (deadlineHit) throw new DeadlineExceededError(attempts);
  if (plan.candidates.length === 1 && errors.length === 1) {
    // One provider, one failure: its own error says more than "all providers failed".
    errors[0]!.attempts = attempts;
    throw errors[0];
  }
  throw new AllProvidersFailedError(attempts, errors);
}

/** How long to wait before trying the same provider again, or undefined to move on now. */
function waitBeforeRetry(
  error: MailrouteError,
  attempt: number,
  retry: RetryOptions,
  random: () => number,
): number | undefined {
  if (error.code === 'THROTTLED') {
    const after = (error as ThrottledError).retryAfterMs ?? retry.baseDelayMs;
    return after <= retry.maxThrottleWaitMs ? after : undefined;
  }
  if (error.code === 'TRANSIENT') {
    // Full jitter: spreads the retries of many senders hit by the same blip.
    const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(random() * cap);
  }
  return undefined;
}

function asMailrouteError(error: unknown, name: string, adapter?: Adapter): MailrouteError {
  if (isMailrouteError(error)) return error;
  // An adapter should translate every error; one that slipped through is treated as an outage, never dropped.
  return new ProviderUnavailableError(`${name} failed: ${(error as Error)?.message ?? String(error)}`, {
    ...(adapter ? { provider: adapter.provider, mode: adapter.mode } : {}),
    cause: error,
  });
}
