import type { SendContext } from '../contract/adapter.ts';

/**
 * One abort signal for a provider call: the caller's own and a timer for the time left before
 * `context.deadline`. Undefined when the context has neither. Check `deadlinePassed` first: a timer of 0 fires late.
 */
export function callSignal(context: SendContext, now = Date.now()): AbortSignal | undefined {
  const signals: AbortSignal[] = [];
  if (context.signal) signals.push(context.signal);
  if (context.deadline !== undefined) {
    const timer = AbortSignal.timeout(Math.max(1, context.deadline - now));
    deadlineTimers.set(context, timer);
    signals.push(timer);
  }
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

/**
 * The deadline timer of each context's latest `callSignal`. Timers run on the event loop's clock, which is read at
 * the start of each loop turn: one set late in a busy turn fires that much before `Date.now()` reaches the deadline,
 * and a call cut by it must still count as cut by the deadline (not as a lost connection, or a provider fault).
 */
const deadlineTimers = new WeakMap<SendContext, AbortSignal>();

export function deadlinePassed(context: SendContext, now = Date.now()): boolean {
  return (
    Boolean(context.signal?.aborted) ||
    (context.deadline !== undefined && context.deadline <= now) ||
    Boolean(deadlineTimers.get(context)?.aborted)
  );
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts: for library steps that take no signal of their
 * own (google-auth-library's token fetch).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    // The promise is always followed, even when the signal is already aborted: its later rejection is then
    // handled here rather than left unhandled.
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
