import { redactSecrets } from '../config/secrets.ts';
import type { SendResult } from '../contract/adapter.ts';
import type { Attempt } from '../errors.ts';
import { maskAddress } from '../util/log.ts';
import type { RecordOutcome } from './queue-batch.ts';

/** One provider entry's share of the sends observed: what each cloud's metrics publish. */
export interface ProviderTally {
  /** Attempts that handed the message over. */
  sent: number;
  /** Attempts that failed for any reason but a throttle. */
  failed: number;
  /** Attempts refused for rate or quota, by the provider or by our own rate limit. */
  throttled: number;
  /** Sends that left this provider for the next one. */
  failover: number;
  /** Duration of every attempt that reached the provider (sent or failed), in ms. */
  latencyMs: number[];
}

/** A send's result, or its error in JSON form (as `sendPayload` and the HTTP API answer it). */
export interface SendOutcome {
  result?: SendResult;
  error?: Record<string, unknown>;
}

/** The attempts a send made now: none for a duplicate (it was sent earlier) or a payload refused before routing. */
export function attemptsOf(outcome: SendOutcome): Attempt[] {
  if (outcome.result) return outcome.result.duplicate ? [] : (outcome.result.attempts ?? []);
  return (outcome.error?.attempts as Attempt[] | undefined) ?? [];
}

/** Adds one send's attempts to per-provider-entry tallies (keyed by the entry's configured name). */
export function tallyAttempts(attempts: readonly Attempt[], tallies: Map<string, ProviderTally>): void {
  const of = (name: string) => {
    const tally = tallies.get(name) ?? { sent: 0, failed: 0, throttled: 0, failover: 0, latencyMs: [] };
    tallies.set(name, tally);
    return tally;
  };
  attempts.forEach((attempt, i) => {
    const tally = of(attempt.name);
    if (attempt.errorCode === 'THROTTLED') tally.throttled++;
    else if (attempt.outcome === 'failed') tally.failed++;
    if (attempt.outcome === 'sent') tally.sent++;
    if (attempt.outcome !== 'skipped') tally.latencyMs.push(attempt.latencyMs);
    const next = attempts[i + 1];
    if (next && next.name !== attempt.name) tally.failover++;
  });
}

/**
 * One log record per attempt: entry name, provider, mode, outcome, latency, error code and reason, the message's
 * `Message-ID`, and on the attempt that sent it, the provider's own message id.
 */
export function attemptRecords(attempts: readonly Attempt[], result?: SendResult): Record<string, unknown>[] {
  return attempts.map((a) => ({
    name: a.name,
    provider: a.provider,
    mode: a.mode,
    outcome: a.outcome,
    latencyMs: a.latencyMs,
    ...(a.errorCode ? { errorCode: a.errorCode } : {}),
    ...(a.reason || a.error?.message ? { reason: a.reason ?? String(a.error?.message) } : {}),
    ...(result ? { messageId: result.messageId } : {}),
    ...(result && a.outcome === 'sent' && result.providerMessageId
      ? { providerMessageId: result.providerMessageId }
      : {}),
  }));
}

/** A queue record's outcome as one log record: status, reason, and where it went when it was sent. */
export function outcomeRecord(outcome: RecordOutcome): Record<string, unknown> {
  const base = { queueMessageId: outcome.id, status: outcome.status };
  if (outcome.status === 'sent' || outcome.status === 'duplicate') {
    const { name, provider, mode, messageId, providerMessageId } = outcome.result;
    return { ...base, name, provider, mode, messageId, ...(providerMessageId ? { providerMessageId } : {}) };
  }
  return { ...base, reason: outcome.reason, ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}) };
}

/** Fields that hold message ids, which look like addresses (`<id@host>`) and must stay whole to be searchable. */
const MESSAGE_ID_FIELDS = new Set(['messageId', 'providerMessageId', 'queueMessageId', 'Message-ID']);
const ADDRESS = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

/**
 * A string as it may be logged under a field: known secrets redacted and every e-mail address masked
 * (`j***@example.com`), except in message-id fields. Meant as a JSON replacer's string case.
 *
 * @example
 * scrubLogText('reason', 'Recipient rejected: jane@example.com') // 'Recipient rejected: j***@example.com'
 */
export function scrubLogText(field: string, text: string): string {
  const redacted = redactSecrets(text);
  return MESSAGE_ID_FIELDS.has(field) ? redacted : redacted.replace(ADDRESS, maskAddress);
}
