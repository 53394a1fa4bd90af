import type { InvocationContext } from '@azure/functions';
import { isMailrouteError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { RecordOutcome } from '../../core/queue-batch.ts';
import { attemptRecords, attemptsOf, outcomeRecord, type SendOutcome, scrubLogText } from '../../core/send-report.ts';

/** Every string scrubbed as it is serialized: known secrets redacted, addresses masked (not message ids). */
const scrub = (key: string, value: unknown) => (typeof value === 'string' ? scrubLogText(key, value) : value);

/** One JSON line: what Application Insights stores as the trace's message, searchable with `contains`. */
export const jsonLine = (message: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ message, ...fields }, scrub);

/**
 * The Mailer's own logger. It outlives invocations, so it writes to the console (the worker forwards it to the
 * host); the router's live "attempt" lines are left out: each invocation logs its attempts once the send is over,
 * with the provider's message id, through `logSend`.
 */
export const mailerLogger: Logger = {
  info: (msg, fields) => {
    if (msg !== 'attempt') console.info(jsonLine(msg, fields));
  },
  warn: (msg, fields) => console.warn(jsonLine(msg, fields)),
  error: (msg, fields) => console.error(jsonLine(msg, fields)),
};

/** One line per attempt the send made now: provider, mode, outcome, latency, error code, message ids. */
export function logSend(context: InvocationContext, send: SendOutcome, fields: Record<string, unknown> = {}): void {
  for (const line of attemptRecords(attemptsOf(send), send.result))
    context.info(jsonLine('attempt', { ...fields, ...line }));
}

/** A queue message: its attempts, then one `record` line with its outcome (a warning unless it was delivered). */
export function logRecord(context: InvocationContext, outcome: RecordOutcome, extra: Record<string, unknown>): void {
  const send = 'result' in outcome ? { result: outcome.result } : outcome.error ? { error: outcome.error } : {};
  logSend(context, send, { queueMessageId: outcome.id });
  const line = jsonLine('record', { ...outcomeRecord(outcome), ...extra });
  if (outcome.status === 'sent' || outcome.status === 'duplicate') context.info(line);
  else context.warn(line);
}

/** The error that ends an invocation: its JSON form for the project's errors (no stack), else name and message. */
export function logFailure(context: InvocationContext, error: unknown): void {
  const json = isMailrouteError(error)
    ? error.toJSON()
    : { name: (error as Error)?.name, message: String((error as Error)?.message ?? error) };
  context.error(jsonLine('invocation failed', { error: json }));
}
