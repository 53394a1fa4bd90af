import { type Adapter, type AdapterSendResult, checkCapabilities, type SendContext } from './adapter.ts';
import type { PreparedMessage } from './compose.ts';
import {
  AllProvidersFailedError,
  type Attempt,
  DeadlineExceededError,
  isMailrouteError,
  type MailrouteError,
  ProviderUnavailableError,
  StateStoreError,
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

/**
 * What the idempotency claim does around each attempt: `begin` records that the message is being handed to the
 * adapter (and may refuse: then nothing is sent), `failed` that the attempt failed for certain.
 */
export interface AttemptHooks {
  begin(adapter: Adapter): Promise<Partial<SendContext>>;
  failed(adapter: Adapter, error: MailrouteError): Promise<void>;
}

export interface FailoverDeps {
  adapter(name: string): Promise<Adapter>;
  hooks?: AttemptHooks;
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
  /** The message was not sent now: an earlier attempt was found delivered at the provider. */
  settled?: boolean;
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
    const availability = await stored('read shared health', () => deps.health.availability(adapter.name));
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
    const slot = await stored('reserve a rate-limit slot', () =>
      deps.limiter(adapter.name).acquire(Math.min(retry.maxRateWaitMs, remaining())),
    );
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
        const again = await stored('reserve a rate-limit slot', () =>
          deps.limiter(adapter.name).acquire(Math.min(retry.maxRateWaitMs, remaining())),
        );
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
      let context: SendContext = deadline === undefined ? {} : { deadline: deadline - retry.safetyMarginMs };
      try {
        // Recorded before the hand-over, so a crash from here on is never mistaken for "nothing was sent".
        if (deps.hooks) context = { ...context, ...(await deps.hooks.begin(adapter)) };
      } catch (error) {
        const e = asMailrouteError(error, adapter.name, adapter);
        e.attempts = attempts;
        throw e;
      }
      const started = Date.now();
      let sent: AdapterSendResult;
      try {
        sent = await deps.health.run(adapter.name, () => adapter.send(prepared, context));
      } catch (error) {
        if (HealthTracker.isOpenCircuit(error)) {
          await deps.hooks?.failed(adapter, new ProviderUnavailableError('circuit open'));
          record({ ...base, outcome: 'skipped', reason: 'circuit open', latencyMs: 0 });
          errors.push(new ProviderUnavailableError('circuit open', { provider: adapter.provider, mode: adapter.mode }));
          break;
        }
        const e = asMailrouteError(error, adapter.name, adapter);
        record({ ...base, outcome: 'failed', errorCode: e.code, error: e.toJSON(), latencyMs: Date.now() - started });
        if (e.code !== 'AMBIGUOUS') await deps.hooks?.failed(adapter, e);
        await bestEffort(deps, 'record a provider failure', () =>
          deps.health.recordFailure(adapter.name, e, retry.maxThrottleWaitMs),
        );
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
        continue;
      }
      // Delivered. Nothing after this line may turn it into a failure (and so into a failover that sends again).
      await bestEffort(deps, 'record a provider success', () => deps.health.recordSuccess(adapter.name));
      record({
        ...base,
        outcome: 'sent',
        ...(sent.providerMessageId ? { providerMessageId: sent.providerMessageId } : {}),
        latencyMs: Date.now() - started,
      });
      return { adapter, sent, attempts };
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

/** A state-store call before a send: its failure means nothing was sent, and is reported as the store's. */
async function stored<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new StateStoreError(operation, { cause: error });
  }
}

/** Shared health is advisory: a store that fails to record it must not fail (or repeat) a send. */
async function bestEffort(deps: FailoverDeps, operation: string, call: () => Promise<void>): Promise<void> {
  try {
    await call();
  } catch (error) {
    deps.log.warn(`could not ${operation}`, { error: (error as Error)?.message });
  }
}

export function asMailrouteError(error: unknown, name: string, adapter?: Adapter): MailrouteError {
  if (isMailrouteError(error)) return error;
  // An adapter should translate every error; one that slipped through is treated as an outage, never dropped.
  return new ProviderUnavailableError(`${name} failed: ${(error as Error)?.message ?? String(error)}`, {
    ...(adapter ? { provider: adapter.provider, mode: adapter.mode } : {}),
    cause: error,
  });
}
