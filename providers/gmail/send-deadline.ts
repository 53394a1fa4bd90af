import type { SendContext } from '../../core/adapter.ts';

/**
 * One signal for a call: the caller's own, and a timer for the time left before `context.deadline`.
 * Undefined when the context has neither. The caller checks `deadlinePassed` first: a timer of 0 fires late.
 */
export function callSignal(context: SendContext, now = Date.now()): AbortSignal | undefined {
  const signals: AbortSignal[] = [];
  if (context.signal) signals.push(context.signal);
  if (context.deadline !== undefined) signals.push(AbortSignal.timeout(Math.max(1, context.deadline - now)));
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

export function deadlinePassed(context: SendContext, now = Date.now()): boolean {
  return Boolean(context.signal?.aborted) || (context.deadline !== undefined && context.deadline <= now);
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts. google-auth-library fetches the access token
 * before the API request starts and takes no signal for it, so only this bounds the token step.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
