import { positiveIntSetting } from '../../core/config/env-settings.ts';
import type { QueueRecord, RecordOutcome } from '../../core/runtime/queue-batch.ts';
import { SEND_QUEUE_SETTING } from './bindings.ts';
import host from './host.json' with { type: 'json' };

/** Azure's default for `MAILROUTE_DEADLINE_MARGIN_MS`: 10 s, of host.json's 5-minute `functionTimeout`. */
export const MARGIN_MS = 10_000;

/** Azure's front end drops a request left unanswered for 230 s, whatever host.json's functionTimeout says. */
export const HTTP_ANSWER_LIMIT_MS = 230_000;

/** `hh:mm:ss` or `d.hh:mm:ss` in ms; Infinity for `-1` (no timeout, Flex Consumption and Premium). */
function timeSpanMs(text: string): number {
  const match = /^(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})$/.exec(text);
  if (!match) return Number.POSITIVE_INFINITY;
  const [, days = '0', hours, minutes, seconds] = match;
  return (((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}

/**
 * When the host stops waiting, read at the invocation's start: host.json's `functionTimeout` (or its
 * `AzureFunctionsJobHost__functionTimeout` override) from now, at most `capMs` (an HTTP answer); Infinity with no
 * timeout. The host gives no remaining-time API, so this is the bound the runtime's deadlines come from.
 */
export const functionEnd =
  (capMs = Number.POSITIVE_INFINITY, env = process.env) =>
  () =>
    Date.now() + Math.min(timeSpanMs(env.AzureFunctionsJobHost__functionTimeout ?? host.functionTimeout), capMs);

/** host.json's `maxDequeueCount`, or its app-setting override: the dequeue after which the host poisons. */
export const maxDequeueCount = (env = process.env) =>
  positiveIntSetting(
    env,
    'AzureFunctionsJobHost__extensions__queues__maxDequeueCount',
    host.extensions.queues.maxDequeueCount,
  );

/** A record line's fields: its dequeue count, and where the function (failed queue) or the host (poison) puts it. */
export function setAsideFields(outcome: RecordOutcome, record: QueueRecord, env = process.env) {
  const poisonNext = outcome.status === 'retry' && (record.receiveCount ?? 1) >= maxDequeueCount(env);
  return {
    dequeueCount: record.receiveCount,
    ...(outcome.status === 'dead-letter' ? { setAside: 'failed-queue' } : {}),
    ...(poisonNext ? { setAside: 'poison-queue', poisonQueue: `${env[SEND_QUEUE_SETTING]}-poison` } : {}),
  };
}
