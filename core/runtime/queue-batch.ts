import type { SendResult } from '../contract/adapter.ts';
import { isMailrouteError, type MailrouteError } from '../errors.ts';
import type { Mailer } from '../mailer.ts';
import { untilAborted } from '../util/deadline.ts';

/**
 * The cloud-neutral part of every queue-triggered function: one record of a batch, whatever the queue
 * (SQS, Azure Storage Queue, Pub/Sub, OCI Queue). Each cloud's handler maps its event to these and the outcomes
 * back to its own success / retry / dead-letter shape.
 */
export interface QueueRecord {
  /** The queue's message id: the idempotency key when the message has none, so a redelivery is recognized. */
  id: string;
  body: string;
  /** FIFO message group: records of one group are sent in order, and a failure holds back the rest of it. */
  groupId?: string;
  /** How many times the queue has delivered this record (1 on the first delivery), when it says. */
  receiveCount?: number;
}

/**
 * Why a record was not sent: the reason (logged, and kept with a dead letter), the error's code as a field of its
 * own (`INVALID_JSON`, `RECIPIENT_REJECTED`, ...: never parsed back from the reason), and the error's JSON form
 * (code, message, field issues) when there was a project error.
 */
export interface RecordFailure {
  reason: string;
  errorCode: string;
  error?: Record<string, unknown>;
}

/** Not sent, may succeed later: give it back to the queue (`errorCode` when a project error said why). */
export type RetryOutcome = { id: string; status: 'retry'; reason: string } & Partial<Omit<RecordFailure, 'reason'>>;
/** Will never succeed as it is (or may already have been delivered): set aside with its reason, acknowledged. */
export type DeadLetterOutcome = { id: string; status: 'dead-letter' } & RecordFailure;

export type RecordOutcome =
  | { id: string; status: 'sent'; result: SendResult }
  /** Sent by an earlier delivery: the recorded result, nothing sent now. */
  | { id: string; status: 'duplicate'; result: SendResult }
  | RetryOutcome
  | DeadLetterOutcome;

/** What bounds one dead-letter write. */
export interface DeadLetterCall {
  /**
   * Aborts when the write's time is up (`deadLetterDeadline`): pass it to the SDK call (and so to its retries),
   * so the request is given up rather than left running. The write is abandoned then whether the sink heeds it
   * or not.
   */
  signal?: AbortSignal;
}

/**
 * Where a permanent failure goes: the original record, the reason, and the whole failure (its `errorCode`, and the
 * error's JSON with its field issues; `deadLetterFields` in core/runtime/dead-letter.ts turns them into the fields
 * every cloud writes). Throws if it could not be stored. Each call is bounded by the remaining time
 * (`call.signal`): a write that has not finished by then is abandoned and its record goes back to the queue, never
 * dropped.
 */
export type DeadLetterSink = (
  record: QueueRecord,
  reason: string,
  failure?: RecordFailure,
  call?: DeadLetterCall,
) => Promise<void>;

export interface BatchOptions {
  mailer: Mailer;
  deadLetter: DeadLetterSink;
  /** Records sent at once (groups in a FIFO batch count as one each). */
  concurrency?: number;
  /** Epoch ms: the function's remaining time, so a send stops in time and its record goes back to the queue. */
  deadline?: number;
  /**
   * Epoch ms by which a dead-letter write must have finished: one that has not is abandoned (its signal aborts)
   * and its record goes back to the queue, so the function still answers in time. Normally between `deadline`
   * and the function's end (see `splitDeadlines` in core/runtime/deadline.ts); default `deadline`. Neither:
   * writes are not bounded.
   */
  deadLetterDeadline?: number;
  /**
   * Turns a record body into the message text, for bodies that stand for a payload stored elsewhere (an S3
   * reference for a message over the queue's size limit). Its errors are classified like a send's.
   */
  resolveBody?: (body: string) => Promise<string>;
}

/**
 * What to do with a failed send, from its class: a message that can never succeed (invalid, rejected, a key
 * reused for another payload) or that may already have been delivered (ambiguous) is dead-lettered, never
 * retried; anything that may succeed later goes back to the queue.
 */
export function classifyFailure(error: unknown): Omit<RetryOutcome, 'id'> | Omit<DeadLetterOutcome, 'id'> {
  if (!isMailrouteError(error)) {
    return { status: 'retry', reason: `unexpected error: ${(error as Error)?.message ?? String(error)}` };
  }
  const e = error as MailrouteError;
  const failure = { errorCode: e.code, error: e.toJSON() };
  if (e.mayHaveDelivered) return { status: 'dead-letter', reason: `ambiguous: ${e.message}`, ...failure };
  if (e.retryable) return { status: 'retry', reason: `${e.code}: ${e.message}`, ...failure };
  return { status: 'dead-letter', reason: `${e.code}: ${e.message}`, ...failure };
}

/** Sends one record; never throws: every record ends with an outcome. */
export async function processRecord(record: QueueRecord, options: BatchOptions): Promise<RecordOutcome> {
  let outcome: RecordOutcome;
  let message: unknown;
  let body = record.body;
  if (options.resolveBody) {
    try {
      body = await options.resolveBody(record.body);
    } catch (error) {
      const failed: RecordOutcome = { id: record.id, ...classifyFailure(error) };
      return failed.status === 'dead-letter' ? deadLetterRecord(record, failed, options) : failed;
    }
  }
  try {
    message = JSON.parse(body);
  } catch (error) {
    const reason = `INVALID_JSON: the record body is not JSON (${(error as Error).message})`;
    return deadLetterRecord(record, { reason, errorCode: 'INVALID_JSON' }, options);
  }
  try {
    const result = await options.mailer.send(message, {
      idempotencyKey: record.id,
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    });
    outcome = result.duplicate
      ? { id: record.id, status: 'duplicate', result }
      : { id: record.id, status: 'sent', result };
  } catch (error) {
    outcome = { id: record.id, ...classifyFailure(error) };
  }
  return outcome.status === 'dead-letter' ? deadLetterRecord(record, outcome, options) : outcome;
}

/**
 * Sets a record aside through `options.deadLetter`, bounded by `deadLetterDeadline` (else `deadline`): the
 * dead-letter outcome once the write has finished; a `retry` outcome (the record stays on the queue) when the
 * write failed, or did not finish in time, or there was no time left to start it. Never throws. A write given up
 * at the deadline may still have reached the dead-letter place: the record may then be set aside twice, never
 * lost. The failure's `errorCode` defaults to its error's `code`, else `UNKNOWN`.
 */
export async function deadLetterRecord(
  record: QueueRecord,
  failure: { reason: string; errorCode?: string; error?: Record<string, unknown> },
  options: Pick<BatchOptions, 'deadLetter' | 'deadline' | 'deadLetterDeadline'>,
): Promise<RecordOutcome> {
  const { reason, error } = failure;
  const code = failure.errorCode ?? error?.code;
  const set: RecordFailure = {
    reason,
    errorCode: typeof code === 'string' ? code : 'UNKNOWN',
    ...(error ? { error } : {}),
  };
  const outcome: RecordOutcome = { id: record.id, status: 'dead-letter', ...set };
  const giveBack = (why: string): RecordOutcome => ({ id: record.id, status: 'retry', reason: `${why}; ${reason}` });
  const by = options.deadLetterDeadline ?? options.deadline;
  const left = by === undefined ? Number.POSITIVE_INFINITY : by - Date.now();
  if (left <= 0) return giveBack('no time left for the dead-letter write');
  const timer = new AbortController();
  const timeout = left <= MAX_TIMER_MS ? setTimeout(() => timer.abort(new DeadLetterTimeout(left)), left) : undefined;
  const signal = timeout === undefined ? undefined : timer.signal;
  try {
    const write = (async () => options.deadLetter(record, reason, set, signal ? { signal } : {}))();
    await untilAborted(write, signal);
    return outcome;
  } catch (failed) {
    // The dead-letter place is unreachable or too slow: keep the record on the queue rather than lose it.
    if (signal?.aborted) return giveBack(`dead-letter write did not finish in the ${left} ms left`);
    return giveBack(`dead-letter write failed (${(failed as Error)?.message ?? String(failed)})`);
  } finally {
    clearTimeout(timeout);
  }
}

/** setTimeout's largest delay (about 24.8 days; a longer one fires at once): beyond it, no bound. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The abort reason of a dead-letter write that ran out of time. */
class DeadLetterTimeout extends Error {
  override name = 'TimeoutError';
  constructor(ms: number) {
    super(`the dead-letter write did not finish in the ${ms} ms left`);
  }
}

/**
 * Processes a batch with bounded concurrency. Records of one FIFO group go one after another, in order; after a
 * record of a group is given back for retry, the rest of that group is given back unsent, so order holds.
 */
export async function processBatch(records: QueueRecord[], options: BatchOptions): Promise<RecordOutcome[]> {
  const lanes = new Map<string, QueueRecord[]>();
  for (const record of records) {
    const lane = record.groupId === undefined ? `record:${record.id}` : `group:${record.groupId}`;
    lanes.set(lane, [...(lanes.get(lane) ?? []), record]);
  }
  const outcomes = new Map<string, RecordOutcome>();
  const queue = [...lanes.values()];
  const workers = Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 10, queue.length)) }, async () => {
    for (let lane = queue.shift(); lane; lane = queue.shift()) {
      let blocked: string | undefined;
      for (const record of lane) {
        if (blocked) {
          outcomes.set(record.id, {
            id: record.id,
            status: 'retry',
            reason: `held back: ${blocked} failed earlier in group ${record.groupId}`,
          });
          continue;
        }
        const outcome = await processRecord(record, options);
        outcomes.set(record.id, outcome);
        if (outcome.status === 'retry' && record.groupId !== undefined) blocked = record.id;
      }
    }
  });
  await Promise.all(workers);
  return records.map((r) => outcomes.get(r.id)!);
}
