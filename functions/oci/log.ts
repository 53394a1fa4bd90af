import type { Logger } from '../../core/log.ts';
import type { RecordOutcome } from '../../core/queue-batch.ts';
import { attemptRecords, attemptsOf, outcomeRecord, type SendOutcome, scrubLogText } from '../../core/send-report.ts';

/**
 * One JSON object per line on stdout, which OCI Functions hands to OCI Logging when the application's function
 * log is enabled. Every string is scrubbed as it is serialized: registered secrets become `[REDACTED]`, addresses
 * `j***@example.com` (message ids stay whole).
 */
function write(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}) {
  if (level === 'debug' && !process.env.MAILROUTE_DEBUG) return;
  const line = { time: new Date().toISOString(), level, message, service: 'mailroute', ...fields };
  process.stdout.write(
    `${JSON.stringify(line, (key, value) => (typeof value === 'string' ? scrubLogText(key, value) : value))}\n`,
  );
}

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => write('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write('error', message, fields),
};

/** The Mailer's logger: its live "attempt" lines at debug level, since `observeSend` logs each attempt afterwards. */
export const mailerLogger: Logger = {
  info: (message, fields) => (message === 'attempt' ? log.debug(message, fields) : log.info(message, fields)),
  warn: (message, fields) => log.warn(message, fields),
  error: (message, fields) => log.error(message, fields),
};

/** One line per attempt the send made now, with the provider's message id on the one that sent. */
export function observeSend(send: SendOutcome, fields: Record<string, unknown> = {}): void {
  for (const line of attemptRecords(attemptsOf(send), send.result)) log.info('attempt', { ...fields, ...line });
}

/** A queue record: its attempts, then one line with its outcome (warn for retry and dead-letter). */
export function observeOutcome(outcome: RecordOutcome): void {
  const send = 'result' in outcome ? { result: outcome.result } : outcome.error ? { error: outcome.error } : {};
  observeSend(send, { queueMessageId: outcome.id });
  const failed = outcome.status === 'retry' || outcome.status === 'dead-letter';
  (failed ? log.warn : log.info)('record', outcomeRecord(outcome));
}
