import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../core/contract/adapter.ts';
import type { Mailer } from '../../core/mailer.ts';
import { splitDeadlines as queueDeadlines } from '../../core/runtime/deadline.ts';
import {
  type DeadLetterCall,
  type DeadLetterSink,
  deadLetterRecord,
  processBatch,
  type QueueRecord,
} from '../../core/runtime/queue-batch.ts';

/**
 * The bound every queue function's dead-letter writes share (core/runtime/queue-batch.ts): each cloud's handler gives
 * `processBatch` / `processRecord` its deadlines, its sink passes the signal on to its SDK.
 */

const result = (subject: string): SendResult =>
  ({ name: 'stub', provider: 'local', mode: 'api', messageId: `<${subject}@example.com>` }) as SendResult;
/** A mailer that sends every JSON body at once (the bound under test is the dead-letter write's). */
const mailer = {
  send: async (message: { subject: string }) => result(message.subject),
} as unknown as Mailer;
const good = (subject: string) => JSON.stringify({ from: 'app@example.com', to: 'ann@example.net', subject });

/** A dead-letter place that takes the write and never answers; it records the signals it was given. */
function silentSink() {
  const calls: { id: string; call?: DeadLetterCall }[] = [];
  const sink: DeadLetterSink = (record, _reason, _error, call) => {
    calls.push({ id: record.id, ...(call ? { call } : {}) });
    return new Promise<void>(() => {});
  };
  return { sink, calls };
}

describe('queueDeadlines', () => {
  it('sends stop a margin before the end; dead-letter writes half a margin before; no end, no bounds', () => {
    expect(queueDeadlines(10_000, 1_000)).toEqual({ deadline: 9_000, deadLetterDeadline: 9_500 });
    expect(queueDeadlines(10_000, 1_001)).toEqual({ deadline: 8_999, deadLetterDeadline: 9_499 });
    expect(queueDeadlines(Number.POSITIVE_INFINITY, 1_000)).toEqual({});
  });
});

describe('dead-letter writes bounded by the remaining time', () => {
  it('a write that never finishes (and ignores its signal) is given up at its deadline: the record is retried', async () => {
    const { sink, calls } = silentSink();
    const record: QueueRecord = { id: 'd1', body: 'not json' };
    const outcome = await deadLetterRecord(
      record,
      { reason: 'INVALID_JSON: nope' },
      { deadLetter: sink, deadLetterDeadline: Date.now() + 100 },
    );
    expect(outcome).toEqual({
      id: 'd1',
      status: 'retry',
      reason: expect.stringMatching(/^dead-letter write did not finish in the \d+ ms left; INVALID_JSON: nope$/),
    });
    // The sink was handed the signal, aborted now, with a reason saying why.
    expect(calls).toHaveLength(1);
    expect(calls[0]?.call?.signal?.aborted).toBe(true);
    expect(calls[0]?.call?.signal?.reason).toMatchObject({ name: 'TimeoutError' });
  });

  it('no time left: the write is not started, the record is retried', async () => {
    const { sink, calls } = silentSink();
    const outcome = await deadLetterRecord(
      { id: 'd2', body: 'x' },
      { reason: 'INVALID_JSON: x' },
      { deadLetter: sink, deadline: Date.now() - 1 },
    );
    expect(outcome).toMatchObject({ status: 'retry', reason: /^no time left for the dead-letter write; INVALID_JSON/ });
    expect(calls).toEqual([]);
  });

  it('a write that finishes in time is a dead-letter; with no deadline at all the sink gets no signal', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const sink: DeadLetterSink = async (_record, _reason, _error, call) => {
      signals.push(call?.signal);
    };
    const bounded = await deadLetterRecord(
      { id: 'd3', body: 'x' },
      { reason: 'R', error: { code: 'INVALID_MESSAGE' } },
      { deadLetter: sink, deadline: Date.now() + 60_000 },
    );
    const unbounded = await deadLetterRecord({ id: 'd4', body: 'x' }, { reason: 'R' }, { deadLetter: sink });
    expect(bounded).toEqual({
      id: 'd3',
      status: 'dead-letter',
      reason: 'R',
      errorCode: 'INVALID_MESSAGE',
      error: { code: 'INVALID_MESSAGE' },
    });
    expect(unbounded).toEqual({ id: 'd4', status: 'dead-letter', reason: 'R', errorCode: 'UNKNOWN' });
    expect(signals.map((s) => s?.aborted)).toEqual([false, undefined]);
  });

  it('a sink that throws at once still ends as a retry (never a rejection)', async () => {
    const sink: DeadLetterSink = () => {
      throw new Error('no client');
    };
    const outcome = await deadLetterRecord({ id: 'd5', body: 'x' }, { reason: 'R' }, { deadLetter: sink });
    expect(outcome).toEqual({ id: 'd5', status: 'retry', reason: 'dead-letter write failed (no client); R' });
  });

  it('in a batch: the sent records stay sent, the silent dead-letter write is retried, its FIFO group held back', async () => {
    const { sink } = silentSink();
    const records: QueueRecord[] = [
      { id: 's1', body: good('one') },
      { id: 'g1', body: 'not json', groupId: 'g' },
      { id: 'g2', body: good('after'), groupId: 'g' },
      { id: 's2', body: good('two') },
    ];
    const outcomes = await processBatch(records, {
      mailer,
      deadLetter: sink,
      ...queueDeadlines(Date.now() + 400, 200),
    });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['s1', 'sent'],
      ['g1', 'retry'],
      ['g2', 'retry'],
      ['s2', 'sent'],
    ]);
    expect(outcomes[2]).toMatchObject({ reason: 'held back: g1 failed earlier in group g' });
  });
});
