import type { Context } from '@fnproject/fdk';
import { runEvents } from '../../core/runtime/invocation.ts';
import { fnEnd, mailer } from './config.ts';
import { log } from './log.ts';

/** The `type` of every Email Delivery log record (`...emaildomain.outboundaccepted`, `...outboundrelayed`). */
const EMAIL_DELIVERY_LOG = /^com\.oraclecloud\.emaildelivery\./i;

/**
 * The records of a Connector Hub delivery from the Email Delivery logs (a JSON array of Logging records, one of
 * them at least of a `com.oraclecloud.emaildelivery.*` type; Logging Search's results, which wrap the record in
 * `data.logContent`, too, for a replay), or undefined for anything else (a send-queue batch).
 */
export function emailDeliveryLogRecords(payload: string): unknown[] | undefined {
  if (!payload.trimStart().startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const typeOf = (r: unknown) => {
    const record = r as { type?: unknown; data?: { logContent?: { type?: unknown } } } | null;
    return String(record?.type ?? record?.data?.logContent?.type ?? '');
  };
  const isLogRecord = (r: unknown) => EMAIL_DELIVERY_LOG.test(typeOf(r));
  return Array.isArray(parsed) && parsed.some(isLogRecord) ? parsed : undefined;
}

/**
 * A Connector Hub batch of Email Delivery log records: applied to the suppression list and counts (Connector Hub
 * is authorised by the IAM policy to invoke the function, so the records are taken as authenticated), each applied
 * event logged. A batch the intake refuses (no record it can read) would be refused again: it is logged and
 * answered, so Connector Hub moves on. Any other failure (the store) fails the invocation, and Connector Hub
 * delivers the batch again; applying an event twice changes nothing.
 */
export async function handleEvents(records: unknown[], context: Context): Promise<Record<string, unknown>> {
  const run = { mailer, log, end: fnEnd(context) };
  // The intake (the OCI log parser) loads with the first log records, as the mailer does.
  const { ingestPayload } = await import('../../core/events/intake.ts');
  const ingest = (m: Parameters<typeof ingestPayload>[0]) => ingestPayload(m, 'oci', records, { authenticated: true });
  const outcome = await runEvents(run, ingest, { trigger: 'connector-hub', records: records.length });
  if (outcome.status === 'refused') return { records: records.length, events: 0, refused: outcome.error.message };
  const { applied } = outcome.answer;
  const suppressed = applied.filter((a) => a.suppression === 'suppressed').length;
  return { records: records.length, events: applied.length, suppressed };
}
