import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { debugEnabled, functionLog, scrubLogValue } from '../../core/runtime/log.ts';
import { countAttempts, publishMetrics } from './metrics.ts';

/**
 * Powertools: JSON lines on stdout with the Lambda context, every string scrubbed as it is serialized. Its level is
 * Powertools' (`POWERTOOLS_LOG_LEVEL`), or debug with `MAILROUTE_LOG_LEVEL=debug`, the switch of every cloud.
 */
const logger = new Logger({
  serviceName: 'mailroute',
  jsonReplacerFn: scrubLogValue,
  ...(debugEnabled() ? { logLevel: 'DEBUG' as const } : {}),
});

/** The runtime's log (core/runtime/log.ts) with Powertools as its sink; every attempt is also counted for metrics. */
export const log = functionLog((level, message, fields) => logger[level](message, fields), {
  onAttempts: countAttempts,
});

/**
 * A Lambda handler: the Lambda context (request id, cold start) on every log line, and this invocation's metrics
 * written however it ends.
 */
export const lambda = <E, R>(handler: (event: E, context: Context) => Promise<R>) =>
  middy<E, R>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({ after: publishMetrics, onError: publishMetrics })
    .handler(handler);
