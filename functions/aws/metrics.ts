import type { Metrics, MetricUnit as Units } from '@aws-lambda-powertools/metrics';
import type { Attempt } from '../../core/errors.ts';
import type { AppliedEvent } from '../../core/events/mail-events.ts';
import { type ProviderTally, tallyAttempts } from '../../core/runtime/send-report.ts';

/**
 * CloudWatch EMF, namespace `mailroute`; no default `service` dimension. Loaded and set up with the first metrics to
 * write, not at INIT: an invocation that counted nothing writes nothing.
 */
let emf: Promise<{ metrics: Metrics; MetricUnit: typeof Units }> | undefined;
const emfWriter = () =>
  (emf ??= import('@aws-lambda-powertools/metrics').then(({ Metrics, MetricUnit }) => {
    const metrics = new Metrics({ namespace: 'mailroute', serviceName: 'mailroute' });
    metrics.clearDefaultDimensions();
    return { metrics, MetricUnit };
  }));
const tallies = new Map<string, ProviderTally>();
/** Delivery events applied, by `provider type`; refusals by source. */
const events = new Map<string, number>();
const refused = new Map<string, number>();
const add = (counts: Map<string, number>, key: string, n = 1) => n && counts.set(key, (counts.get(key) ?? 0) + n);

/** Counts one send's attempts in this invocation's metrics. */
export const countAttempts = (attempts: readonly Attempt[]): void => tallyAttempts(attempts, tallies);

/** Counts applied delivery events, by the provider that reported each and its type. */
export const countEvents = (applied: readonly AppliedEvent[]): void => {
  for (const { event } of applied) add(events, `${event.provider} ${event.type}`);
};

/** Counts deliveries (SNS messages, events) refused before anything was applied: forged, tampered, unknown. */
export const countRefused = (source: string, n = 1): void => void add(refused, source, n);

/**
 * Writes this invocation's metrics, then starts afresh: one EMF line per provider entry (`sent`, `failed`,
 * `throttled`, `failover`, `latency`), one per event provider and type (`events`), one per refused source
 * (`EventsRefused`). The counts are taken (and the next invocation's started) before the writer is loaded.
 */
export async function publishMetrics(): Promise<void> {
  const lines: [Record<string, string>, Record<string, number>, number[]?][] = [];
  for (const [provider, { sent, failed, throttled, failover, latencyMs }] of tallies)
    lines.push([{ provider }, { sent, failed, throttled, failover }, latencyMs]);
  for (const [key, count] of events) {
    const [provider = '', type = ''] = key.split(' ');
    lines.push([{ provider, type }, { events: count }]);
  }
  for (const [source, count] of refused) lines.push([{ source }, { EventsRefused: count }]);
  for (const counts of [tallies, events, refused]) counts.clear();
  if (lines.length === 0) return;
  const { metrics, MetricUnit } = await emfWriter();
  // One EMF line each: these dimensions, these counts (and latencies).
  for (const [dimensions, counts, latencyMs = []] of lines) {
    for (const [name, value] of Object.entries(dimensions)) metrics.addDimension(name, value);
    for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
    for (const ms of latencyMs) metrics.addMetric('latency', MetricUnit.Milliseconds, ms);
    metrics.publishStoredMetrics();
  }
}
