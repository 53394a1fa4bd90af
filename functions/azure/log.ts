import type { InvocationContext } from '@azure/functions';
import { functionLog, jsonSink } from '../../core/runtime/log.ts';

/**
 * The instance's log, for the Mailer's own lines, which outlive invocations: JSON lines through the console, which
 * the worker forwards to the host.
 */
export const instanceLog = functionLog(jsonSink((level, line) => console[level](line)));

/**
 * One invocation's log: JSON lines through `context.log` and friends (Application Insights `traces`, where a line
 * is the trace's message, searchable with `contains`).
 */
export const invocationLog = (context: InvocationContext) =>
  functionLog(jsonSink((level, line) => context[level](line)));
