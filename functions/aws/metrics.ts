import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Attempt } from '../../core/errors.ts';
import { type ProviderTally, tallyAttempts } from '../../core/runtime/send-report.ts';

/** CloudWatch EMF, namespace `mailroute`; the provider entry is the only dimension (no default `service`). */
const metrics = new Metrics({ namespace: 'mailroute', serviceName: 'mailroute' });
metrics.clearDefaultDimensions();
const tallies = new Map<string, ProviderTally>();

/** Counts one send's attempts in this invocation's metrics. */
export const countAttempts = (attempts: readonly Attempt[]): void => tallyAttempts(attempts, tallies);

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
