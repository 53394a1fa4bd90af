import type { Attempt } from '../errors.ts';
import { isMailrouteError } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import type { RecordOutcome } from './queue-batch.ts';
import { attemptRecords, attemptsOf, outcomeRecord, type SendOutcome, scrubLogText } from './send-report.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/** Where one cloud writes a log record: Powertools, the Functions host's context, stdout for Cloud Logging... */
export type LogSink = (level: LogLevel, message: string, fields: LogFields) => void;

/**
 * The JSON replacer of every log line of every cloud: each string is scrubbed as it is serialized, registered
 * secrets becoming `[REDACTED]` and addresses `j***@example.com` (message-id fields stay whole).
 */
export const scrubLogValue = (key: string, value: unknown): unknown =>
  typeof value === 'string' ? scrubLogText(key, value) : value;

/** One record as one JSON line, scrubbed. */
export const jsonLine = (record: LogFields): string => JSON.stringify(record, scrubLogValue);

/**
 * Whether debug lines (the router's live attempt lines) are written: `MAILROUTE_LOG_LEVEL=debug`, or
 * `MAILROUTE_DEBUG` set, the OCI function's former switch, still read.
 */
export const debugEnabled = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.MAILROUTE_LOG_LEVEL?.toLowerCase() === 'debug' || Boolean(env.MAILROUTE_DEBUG);

/**
 * A sink writing each record as one scrubbed JSON line through `write`, in the cloud's own shape (`severity` for
 * Cloud Logging, `level` and `time` for OCI; default `{ message, ...fields }`). Debug lines only when
 * `debugEnabled()`.
 */
export function jsonSink(
  write: (level: LogLevel, line: string) => void,
  shape: (level: LogLevel, message: string, fields: LogFields) => LogFields = (_, message, fields) => ({
    message,
    ...fields,
  }),
): LogSink {
  return (level, message, fields) => {
    if (level !== 'debug' || debugEnabled()) write(level, jsonLine(shape(level, message, fields)));
  };
}

/** `jsonSink`'s writer for stdout, where Lambda, Cloud Functions and OCI Functions collect a function's lines. */
export const toStdout = (_level: LogLevel, line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** An error as a log field: the project's errors in their JSON form (no stack), anything else with its stack. */
export function errorField(error: unknown): unknown {
  if (isMailrouteError(error)) return error.toJSON();
  const e = error as Error | undefined;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error), stack: e?.stack };
}

/** What every function logs, the same fields on every cloud; only the sink differs. */
export interface FunctionLog {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * The Mailer's logger. The router's live `attempt` lines go at debug level: the function logs each attempt at
   * info once the send is over (`send`), when the provider's message id is known.
   */
  readonly mailer: Logger;
  /** One `attempt` line per attempt the send made now (none for a duplicate): provider, outcome, latency, ids. */
  send(outcome: SendOutcome, fields?: LogFields): void;
  /** A queue record: its attempts, then one `record` line with its outcome (warn unless sent or duplicate). */
  record(outcome: RecordOutcome, fields?: LogFields): void;
  /** The error that ends an invocation (default message `invocation failed`), as `errorField` shows it. */
  failure(error: unknown, message?: string): void;
}

/**
 * The function log over one cloud's sink. `onAttempts` sees every send's attempts too (AWS counts them for its
 * metrics).
 */
export function functionLog(
  sink: LogSink,
  options: { onAttempts?: (attempts: readonly Attempt[]) => void } = {},
): FunctionLog {
  const at =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) =>
      sink(level, message, fields);
  const log: FunctionLog = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    mailer: {
      info: (message, fields) => (message === 'attempt' ? log.debug : log.info)(message, fields),
      warn: at('warn'),
      error: at('error'),
    },
    send(outcome, fields = {}) {
      const attempts = attemptsOf(outcome);
      for (const line of attemptRecords(attempts, outcome.result)) log.info('attempt', { ...fields, ...line });
      options.onAttempts?.(attempts);
    },
    record(outcome, fields = {}) {
      const send = 'result' in outcome ? { result: outcome.result } : outcome.error ? { error: outcome.error } : {};
      log.send(send, { queueMessageId: outcome.id });
      const delivered = outcome.status === 'sent' || outcome.status === 'duplicate';
      (delivered ? log.info : log.warn)('record', { ...outcomeRecord(outcome), ...fields });
    },
    failure: (error, message = 'invocation failed') => log.error(message, { error: errorField(error) }),
  };
  return log;
}
