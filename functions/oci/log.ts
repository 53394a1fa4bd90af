import { functionLog, jsonSink, toStdout } from '../../core/runtime/log.ts';

/**
 * The runtime's log (core/runtime/log.ts) as one JSON object per line on stdout, which OCI Functions hands to OCI
 * Logging when the application's function log is enabled: `time`, `level`, `message`, `service`, then the
 * fields. Debug lines only with `MAILROUTE_LOG_LEVEL=debug` (or `MAILROUTE_DEBUG`, the former switch).
 */
export const log = functionLog(
  jsonSink(toStdout, (level, message, fields) => ({
    time: new Date().toISOString(),
    level,
    message,
    service: 'mailroute',
    ...fields,
  })),
);
