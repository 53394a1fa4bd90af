import { positiveIntSetting } from '../config/env-settings.ts';
import { EventRejectedError, isMailrouteError } from '../errors.ts';
import type { IntakeAnswer } from '../events/intake.ts';
import type { AppliedEvent } from '../events/mail-events.ts';
import type { Mailer } from '../mailer.ts';
import { maskAddress } from '../util/log.ts';
import { deadlinesBefore } from './deadline.ts';
import { errorToHttp, type HttpAnswer } from './http-api.ts';
import type { HttpRequest, HttpRouteOptions } from './http-routes.ts';
import type { FunctionLog, LogFields } from './log.ts';
import {
  type DeadLetterSink,
  deadLetterRecord,
  processBatch,
  processRecord,
  type QueueRecord,
  type RecordOutcome,
} from './queue-batch.ts';
import type { SendAnswer } from './send-payload.ts';
import type { SendOutcome } from './send-report.ts';

/** What every trigger of every cloud gives the runtime; the rest is the mapping of its payload and answer. */
export interface Invocation {
  /** The instance's mailer (`mailerOnce`). */
  mailer: () => Promise<Mailer>;
  log: FunctionLog;
  /**
   * When the platform stops waiting for the answer, epoch ms (Infinity: never), read at the invocation's start:
   * the remaining time of the Lambda context, `Fn-Deadline`, the start plus the function's timeout.
   */
  end: () => number;
  /** The platform's default for `MAILROUTE_DEADLINE_MARGIN_MS` (core/runtime/deadline.ts); default 1000. */
  marginMs?: number;
  /** The message of the log line of an error that ends the invocation; default `invocation failed`. */
  failure?: string;
  env?: NodeJS.ProcessEnv;
}

export interface QueueInvocation extends Invocation {
  deadLetter: DeadLetterSink;
  resolveBody?: (body: string) => Promise<string>;
  /** Fields a cloud adds to a record's log line (where it is set aside). */
  recordFields?: (outcome: RecordOutcome) => LogFields;
}

const deadlinesOf = (run: Invocation) => deadlinesBefore(run.end(), run.env, run.marginMs);

/** Runs one invocation: an error that ends it is logged once, then thrown on for the platform to retry. */
async function logged<T>(run: Invocation, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    run.log.failure(error, run.failure);
    throw error;
  }
}

/**
 * The HTTP API (`POST /v1/send`, `GET /healthz`, `POST /v1/events/{source}`), as `npm start` serves it: sent now
 * with the send deadline, or with `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` put on
 * the send queue through `enqueue`; delivery events taken in with `events` (`authenticated` when the platform
 * already authenticated the caller). Never throws: a broken cold start is answered 500 naming the fields to fix,
 * a bug 500 INTERNAL, both logged.
 */
export async function answerHttp(
  request: HttpRequest,
  run: Invocation & { enqueue?: (body: string) => Promise<string>; events?: HttpRouteOptions['events'] },
): Promise<HttpAnswer> {
  try {
    const { deadline } = deadlinesOf(run);
    // The routes (and the guard, the event intake, the unsubscribe page behind them) load with the first request:
    // a queue or invoke function never needs them.
    const [{ routeHttpRequest }, mailer] = await Promise.all([import('./http-routes.ts'), run.mailer()]);
    const answer = await routeHttpRequest(mailer, request, {
      defaultMode: (run.env ?? process.env).MAILROUTE_HTTP_MODE === 'enqueue' ? 'enqueue' : 'send',
      ...(run.enqueue ? { enqueue: run.enqueue } : {}),
      ...(run.events ? { events: run.events } : {}),
      send: deadline === undefined ? {} : { deadline },
    });
    if (request.path.startsWith('/v1/events/')) logEventsAnswer(run.log, request.path, answer);
    else run.log.send(answer.body as SendOutcome, { trigger: 'http' });
    return answer;
  } catch (error) {
    run.log.failure(error, run.failure);
    return errorToHttp(error);
  }
}

/** An events answer is no send: one `events` line with the counts, or `events refused` with the reason. */
function logEventsAnswer(log: FunctionLog, path: string, answer: HttpAnswer): void {
  const source = path.slice('/v1/events/'.length);
  const body = (answer.body ?? {}) as Record<string, unknown>;
  if (answer.status < 300) {
    const { ok: _ok, ...counts } = body;
    log.info('events', { trigger: 'http', source, status: answer.status, ...counts });
    return;
  }
  const error = body.error as { code?: unknown; message?: unknown } | undefined;
  log.warn('events refused', {
    trigger: 'http',
    source,
    status: answer.status,
    reason: error?.message,
    errorCode: error?.code,
  });
}

/** What a trigger's delivery events came to: the intake's answer, or the refusal nothing was applied for. */
export type EventsOutcome =
  | { status: 'applied'; answer: IntakeAnswer }
  | { status: 'refused'; error: EventRejectedError };

/**
 * Delivery events a trigger hands over (an SNS record, an EventBridge event, an Event Grid event, a Connector Hub
 * batch), taken in by `ingest` (`ingestPayload` of core/events/intake.ts). Each applied event is logged as one
 * `event` line (provider, type, the recipient masked, the ids, what it did to the suppression list). A refusal
 * (`EventRejectedError`: a forged or tampered signature, a topic not allowed, a payload none of the source's shapes)
 * applied nothing and would be refused again: it is logged as `events refused` with its reason and returned, for the
 * caller to drop or set aside. Any other error (the store, a signing certificate that could not be fetched) is
 * logged and thrown, for the platform to deliver the events again (applying an event twice changes nothing).
 */
export async function runEvents(
  run: Invocation,
  ingest: (mailer: Mailer) => Promise<IntakeAnswer>,
  fields: LogFields = {},
): Promise<EventsOutcome> {
  try {
    const answer = await ingest(await run.mailer());
    for (const applied of answer.applied) run.log.info('event', { ...fields, ...eventRecord(applied) });
    return { status: 'applied', answer };
  } catch (error) {
    if (!(error instanceof EventRejectedError)) {
      run.log.failure(error, run.failure);
      throw error;
    }
    run.log.warn('events refused', { ...fields, source: error.source, status: error.status, reason: error.message });
    return { status: 'refused', error };
  }
}

/** One applied event as a log record: what happened, to whom (masked), which message, what it changed. */
function eventRecord({ event, suppression }: AppliedEvent): LogFields {
  const { provider, type, eventTime, bounceType, reason, status, recipient, providerMessageId, messageId, name } =
    event;
  return Object.fromEntries(
    Object.entries({
      provider,
      type,
      eventTime,
      bounceType,
      reason,
      status,
      recipient: recipient === undefined ? undefined : maskAddress(recipient),
      providerMessageId,
      messageId,
      name,
      suppression,
    }).filter(([, value]) => value !== undefined),
  );
}

/**
 * A direct invoke: the payload (the message, or its JSON text) sent now, answered `{ ok: true, result }` or
 * `{ ok: false, error }` for every project error, a broken cold start included; only a bug is thrown.
 */
export async function answerInvoke(payload: unknown, run: Invocation): Promise<SendAnswer> {
  try {
    const { deadline } = deadlinesOf(run);
    const [{ sendPayload }, mailer] = await Promise.all([import('./send-payload.ts'), run.mailer()]);
    const answer = await sendPayload(mailer, payload, deadline === undefined ? {} : { deadline });
    run.log.send(answer, { trigger: 'invoke' });
    return answer;
  } catch (error) {
    run.log.failure(error, run.failure);
    if (isMailrouteError(error)) return { ok: false, error: error.toJSON() };
    throw error;
  }
}

/** What `processBatch` and `processRecord` are given: the deadlines first, then the mailer (a cold start). */
async function batchOptions(run: QueueInvocation) {
  const deadlines = deadlinesOf(run);
  const resolveBody = run.resolveBody ? { resolveBody: run.resolveBody } : {};
  return { ...deadlines, ...resolveBody, deadLetter: run.deadLetter, mailer: await run.mailer() };
}

/**
 * A batch (SQS, Connector Hub): sent `MAILROUTE_CONCURRENCY` (default 10) records at once, FIFO groups in order,
 * each record logged. Throws (the whole batch comes back) only when the invocation cannot run: a broken cold
 * start or setting.
 */
export function runBatch(records: QueueRecord[], run: QueueInvocation): Promise<RecordOutcome[]> {
  return logged(run, async () => {
    const concurrency = positiveIntSetting(run.env ?? process.env, 'MAILROUTE_CONCURRENCY', 10);
    const outcomes = await processBatch(records, { ...(await batchOptions(run)), concurrency });
    for (const outcome of outcomes) run.log.record(outcome, run.recordFields?.(outcome));
    return outcomes;
  });
}

/** One record (a Storage Queue message, a Pub/Sub event): sent, set aside or to retry, and logged. */
export function runRecord(record: QueueRecord, run: QueueInvocation): Promise<RecordOutcome> {
  return logged(run, async () => {
    const outcome = await processRecord(record, await batchOptions(run));
    run.log.record(outcome, run.recordFields?.(outcome));
    return outcome;
  });
}

/**
 * A record set aside without a send (a malformed event: no cold start needed), bounded like every dead-letter
 * write, and logged.
 */
export function setAside(
  record: QueueRecord,
  failure: { reason: string; errorCode: string },
  run: QueueInvocation,
): Promise<RecordOutcome> {
  return logged(run, async () => {
    const outcome = await deadLetterRecord(record, failure, { ...deadlinesOf(run), deadLetter: run.deadLetter });
    run.log.record(outcome, run.recordFields?.(outcome));
    return outcome;
  });
}
