import { functionLog, jsonSink, toStdout } from '../../core/runtime/log.ts';

/** Cloud Logging's `LogSeverity` names, which it reads from a `severity` field of a JSON line. */
const SEVERITY = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' } as const;

/**
 * The runtime's log (core/runtime/log.ts) as Cloud Logging's structured JSON lines on stdout: `severity`,
 * `message`, `component: "mailroute"`, then the fields (`jsonPayload`). DEBUG lines only with
 * `MAILROUTE_LOG_LEVEL=debug`.
 */
export const log = functionLog(
  jsonSink(toStdout, (level, message, fields) => ({
    severity: SEVERITY[level],
    message,
    component: 'mailroute',
    ...fields,
  })),
);
