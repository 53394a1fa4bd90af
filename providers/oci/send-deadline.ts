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
