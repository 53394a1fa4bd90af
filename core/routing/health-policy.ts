import { CircuitState, ConsecutiveBreaker, CountBreaker, type IBreaker } from 'cockatiel';
import { isMailrouteError, type MailrouteError } from '../errors.ts';

/**
 * The one health policy: which outcomes say something about the provider rather than the message, which mark it
 * down at once, and when its circuit opens.
 */
export interface BreakerOptions {
  /** Consecutive provider-level failures that open a provider's circuit. */
  failureThreshold: number;
  /** Share (0..1) of the last `failureWindow` calls that, failing, open the circuit: a provider failing in part. */
  failureRate: number;
  /** Calls the failure rate is taken over (at least `failureThreshold` of them before it can open). */
  failureWindow: number;
  /** A send that succeeds slower than this counts as a failure: a provider that is merely slow. */
  slowCallMs: number;
}

const PROVIDER_FAILURES = new Set([
  'PROVIDER_UNAVAILABLE',
  'TRANSIENT',
  'AUTHENTICATION',
  'CONFIGURATION',
  'AMBIGUOUS',
]);

/**
 * A failure that says something about the provider rather than the message: it counts towards opening the
 * circuit. An ambiguous one counts too (a provider that takes requests and never answers is the commonest
 * outage), though the message itself is settled or declared, never sent elsewhere. Recipient and content
 * rejections never count, so one bad address cannot take a provider out; throttling is paced, not an outage.
 */
export function countsAgainstProvider(error: unknown): boolean {
  if (error instanceof SlowCall) return true;
  if (!isMailrouteError(error)) return true;
  return PROVIDER_FAILURES.has(error.code);
}

/**
 * Errors after which a provider is marked down at once for the cool-down, without waiting for the threshold:
 * revoked credentials, a paused account or an exhausted daily quota do not heal in a second.
 */
export function marksDownAtOnce(error: MailrouteError, maxThrottleWaitMs: number): boolean {
  if (error.code === 'AUTHENTICATION' || error.code === 'CONFIGURATION' || error.code === 'PROVIDER_UNAVAILABLE')
    return true;
  const retryAfterMs = (error as MailrouteError & { retryAfterMs?: number }).retryAfterMs;
  return error.code === 'THROTTLED' && retryAfterMs !== undefined && retryAfterMs > maxThrottleWaitMs;
}

/**
 * A send that went through, but slower than `slowCallMs`: thrown inside the breaker so that cockatiel counts
 * it as a failure, and unwrapped outside it, so the caller still gets its result.
 */
export class SlowCall<T> extends Error {
  readonly result: T;
  readonly latencyMs: number;
  constructor(result: T, latencyMs: number) {
    super(`the send took ${latencyMs} ms`);
    this.result = result;
    this.latencyMs = latencyMs;
  }
}

/**
 * Opens when either of cockatiel's breakers would: `failureThreshold` failures in a row (a provider that is
 * down), or `failureRate` of the last `failureWindow` calls (a provider failing one request in three).
 */
export function providerBreaker(options: BreakerOptions): IBreaker {
  const consecutive = new ConsecutiveBreaker(options.failureThreshold);
  const window = Math.max(options.failureWindow, options.failureThreshold);
  const rate = new CountBreaker({
    threshold: options.failureRate,
    size: window,
    minimumNumberOfCalls: Math.min(window, Math.max(options.failureThreshold, Math.ceil(window / 2))),
  });
  return {
    get state() {
      return { consecutive: consecutive.state, rate: rate.state };
    },
    set state(value: { consecutive: unknown; rate: unknown }) {
      consecutive.state = value.consecutive as number;
      rate.state = value.rate;
    },
    success(state: CircuitState) {
      consecutive.success();
      rate.success(state);
    },
    failure(state: CircuitState) {
      // Both are told, so each keeps its own count; either may open the circuit.
      const byCount = consecutive.failure();
      const byRate = rate.failure(state);
      return byCount || byRate || state === CircuitState.HalfOpen;
    },
  };
}
