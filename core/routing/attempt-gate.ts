import { type Adapter, checkCapabilities } from '../contract/adapter.ts';
import {
  type Attempt,
  type MailrouteError,
  ProviderUnavailableError,
  StateStoreError,
  ThrottledError,
} from '../errors.ts';
import type { PreparedMessage } from '../message/compose.ts';
import type { HealthTracker } from './health.ts';
import type { RateLimiter } from './rate-limit.ts';

/** Why a provider is passed over before anything is sent to it: the attempt to record and the error it stands for. */
export interface Skip {
  attempt: Attempt;
  error: MailrouteError;
}

/**
 * What must hold before a message is handed to a provider: its circuit and shared mark let it, it can carry the
 * message, and a rate-limit slot is free within `maxWaitMs`. Undefined when it may go; else why not.
 */
export async function gate(
  adapter: Adapter,
  prepared: PreparedMessage,
  health: HealthTracker,
  limiter: RateLimiter,
  maxWaitMs: number,
): Promise<Skip | undefined> {
  const base = { name: adapter.name, provider: adapter.provider, mode: adapter.mode, latencyMs: 0 };
  const origin = { provider: adapter.provider, mode: adapter.mode };
  const availability = await stored('read shared health', () => health.availability(adapter.name));
  if (!availability.ok) {
    const error = new ProviderUnavailableError(availability.reason, origin);
    return { attempt: { ...base, outcome: 'skipped', reason: availability.reason }, error };
  }
  try {
    await checkCapabilities(prepared, adapter);
  } catch (error) {
    const e = error as MailrouteError;
    return { attempt: { ...base, outcome: 'skipped', errorCode: e.code, reason: e.message }, error: e };
  }
  return slot(adapter, limiter, maxWaitMs);
}

/** A rate-limit slot on the provider (every try takes one, a retry too), or the skip that says how long to wait. */
export async function slot(adapter: Adapter, limiter: RateLimiter, maxWaitMs: number): Promise<Skip | undefined> {
  const acquired = await stored('reserve a rate-limit slot', () => limiter.acquire(maxWaitMs));
  if (acquired.ok) return undefined;
  const reason = `rate limit: next slot in ${acquired.retryAfterMs} ms`;
  const origin = { provider: adapter.provider, mode: adapter.mode };
  return {
    attempt: { name: adapter.name, ...origin, outcome: 'skipped', errorCode: 'THROTTLED', reason, latencyMs: 0 },
    error: new ThrottledError(reason, { ...origin, retryAfterMs: acquired.retryAfterMs }),
  };
}

/** A state-store call before a send: its failure means nothing was sent, and is reported as the store's. */
async function stored<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new StateStoreError(operation, { cause: error });
  }
}
