import { isMailrouteError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { RecordOutcome } from '../../core/queue-batch.ts';
import { attemptRecords, attemptsOf, outcomeRecord, type SendOutcome, scrubLogText } from '../../core/send-report.ts';

/** Cloud Logging's `LogSeverity` names, which it reads from a `severity` field of a JSON line. */
export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

const scrub = (key: string, value: unknown) => (typeof value === 'string' ? scrubLogText(key, value) : value);

/**
 * One JSON line on stdout in Cloud Logging's structured format (`severity`, `message`, then the fields, which
 * land in `jsonPayload`). Every string is scrubbed as it is serialized: registered secrets become `[REDACTED]`,
 * addresses `j***@example.com`. DEBUG lines are written only with `MAILROUTE_LOG_LEVEL=debug`.
 */
export function log(severity: Severity, message: string, fields: Record<string, unknown> = {}): void {
  if (severity === 'DEBUG' && process.env.MAILROUTE_LOG_LEVEL !== 'debug') return;
  process.stdout.write(`${JSON.stringify({ severity, message, component: 'mailroute', ...fields }, scrub)}\n`);
}

/** An error as a log field: the project's errors in their JSON form (no stack), anything else with its stack. */
export function errorField(error: unknown): unknown {
  if (isMailrouteError(error)) return error.toJSON();
  const e = error as Error | undefined;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error), stack: e?.stack };
}

/**
 * The Mailer's logger. The router's live "attempt" lines go at DEBUG: the function logs each attempt at INFO
 * once the send is over (`observeSend`), when the provider's message id is known.
 */
export const mailerLogger: Logger = {
  info: (msg, fields) => log(msg === 'attempt' ? 'DEBUG' : 'INFO', msg, fields),
  warn: (msg, fields) => log('WARNING', msg, fields),
  error: (msg, fields) => log('ERROR', msg, fields),
};

/** One line per attempt the send made now (none for a duplicate). */
export function observeSend(send: SendOutcome, fields: Record<string, unknown> = {}): void {
  for (const line of attemptRecords(attemptsOf(send), send.result)) log('INFO', 'attempt', { ...fields, ...line });
}

/** A Pub/Sub message: its attempts, then one `record` line with its outcome (WARNING for retry and dead-letter). */
export function observeOutcome(outcome: RecordOutcome): void {
  const send = 'result' in outcome ? { result: outcome.result } : outcome.error ? { error: outcome.error } : {};
  observeSend(send, { queueMessageId: outcome.id });
  const failed = outcome.status === 'retry' || outcome.status === 'dead-letter';
  log(failed ? 'WARNING' : 'INFO', 'record', outcomeRecord(outcome));
}
