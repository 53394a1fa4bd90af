import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import { isMailrouteError } from '../../core/errors.ts';
import type { Logger as MailerLogger } from '../../core/log.ts';
import type { RecordOutcome } from '../../core/queue-batch.ts';
import {
  attemptRecords,
  attemptsOf,
  outcomeRecord,
  type ProviderTally,
  type SendOutcome,
  scrubLogText,
  tallyAttempts,
} from '../../core/send-report.ts';

/** JSON lines to stdout; every string scrubbed of known secrets and addresses as it is serialized. */
export const logger = new Logger({
  serviceName: 'mailroute',
  jsonReplacerFn: (key, value) => (typeof value === 'string' ? scrubLogText(key, value) : value),
});

/** CloudWatch EMF, namespace `mailroute`; the provider entry is the only dimension (no default `service`). */
const metrics = new Metrics({ namespace: 'mailroute', serviceName: 'mailroute' });
metrics.clearDefaultDimensions();
const tallies = new Map<string, ProviderTally>();

/**
 * The Mailer's logger. The router's live "attempt" lines go at debug level: the function logs each attempt at
 * info once the send is over (`observeSend`), when the provider's message id is known.
 */
export const mailerLogger: MailerLogger = {
  info: (msg, fields = {}) => (msg === 'attempt' ? logger.debug(msg, fields) : logger.info(msg, fields)),
  warn: (msg, fields = {}) => logger.warn(msg, fields),
  error: (msg, fields = {}) => logger.error(msg, fields),
};

/** Logs one line per attempt the send made now and counts them in this invocation's metrics. */
export function observeSend(send: SendOutcome, fields = {}): void {
  const attempts = attemptsOf(send);
  for (const line of attemptRecords(attempts, send.result)) logger.info('attempt', { ...fields, ...line });
  tallyAttempts(attempts, tallies);
}

/** A queue record: its attempts, then one line with its outcome. */
export function observeOutcome(outcome: RecordOutcome): void {
  const send = 'result' in outcome ? { result: outcome.result } : outcome.error ? { error: outcome.error } : {};
  observeSend(send, { queueMessageId: outcome.id });
  const line = outcomeRecord(outcome);
  if (outcome.status === 'retry' || outcome.status === 'dead-letter') logger.warn('record', line);
  else logger.info('record', line);
}

/** Writes this invocation's metrics: one EMF line per provider entry, then starts afresh. */
export function publishMetrics(): void {
  for (const [name, tally] of tallies) {
    metrics.addDimension('provider', name);
    for (const metric of ['sent', 'failed', 'throttled', 'failover'] as const) {
      metrics.addMetric(metric, MetricUnit.Count, tally[metric]);
    }
    for (const ms of tally.latencyMs) metrics.addMetric('latency', MetricUnit.Milliseconds, ms);
    metrics.publishStoredMetrics();
  }
  tallies.clear();
}

/** The error that ends an invocation: its JSON form for the project's errors (no stack), else the Error. */
function logFailure(request: { error?: unknown }): void {
  const { error } = request;
  logger.error('invocation failed', { error: isMailrouteError(error) ? error.toJSON() : error });
  publishMetrics();
}

/** Lambda context on every log line (request id, cold start), metrics flushed and failures logged per invocation. */
export function observability(): MiddlewareObj[] {
  return [injectLambdaContext(logger, { resetKeys: true }), { after: publishMetrics, onError: logFailure }];
}
