import { positiveIntSetting } from '../config/env-settings.ts';

/** The one setting every cloud's functions read their margin from. */
export const DEADLINE_MARGIN_SETTING = 'MAILROUTE_DEADLINE_MARGIN_MS';

/** The margin when `MAILROUTE_DEADLINE_MARGIN_MS` is not set, unless a platform gives its own (Azure: 10 s). */
export const DEFAULT_MARGIN_MS = 1_000;

/** The two bounds of one invocation, epoch ms; both absent when the platform never stops waiting. */
export interface Deadlines {
  /** The send deadline: `mailer.send` (and so every queue record's send) must have returned by then. */
  deadline?: number;
  /** By when a dead-letter write must have finished: one that has not is abandoned, its record retried. */
  deadLetterDeadline?: number;
}

/**
 * Splits the time before `end` (epoch ms: when the platform stops waiting for the answer) with ONE margin:
 *
 * ```
 * now ──── sends ────┤ deadline = end − margin
 *                    ├── dead-letter writes ──┤ deadLetterDeadline = end − margin / 2
 *                                             ├── the answer ──┤ end
 * ```
 *
 * The margin is subtracted here and nowhere else in the functions. The router's `retry.safetyMarginMs`
 * (core/routing/retry-policy.ts, 250 ms) is not a second copy of it: it is kept back *inside* the send, before `deadline`,
 * so that the last provider call ends early enough for the router to record its outcome (the idempotency claim,
 * health) and for `mailer.send` to return by `deadline`. What comes after the send (the dead-letter write, the
 * answer) is this margin's alone. A non-finite end (no timeout) gives no bounds.
 *
 * @example splitDeadlines(10_000, 1_000) // { deadline: 9_000, deadLetterDeadline: 9_500 }
 */
export function splitDeadlines(end: number, marginMs: number): Deadlines {
  if (!Number.isFinite(end)) return {};
  return { deadline: end - marginMs, deadLetterDeadline: end - Math.ceil(marginMs / 2) };
}

/**
 * The platform's end turned into the invocation's deadlines, the margin read from `MAILROUTE_DEADLINE_MARGIN_MS`
 * (a wrong value names the setting); `defaultMarginMs` is the platform's default.
 */
export function deadlinesBefore(
  end: number,
  env: NodeJS.ProcessEnv = process.env,
  defaultMarginMs = DEFAULT_MARGIN_MS,
) {
  return splitDeadlines(end, positiveIntSetting(env, DEADLINE_MARGIN_SETTING, defaultMarginMs));
}
