import { describe, expect, it } from 'vitest';
import { decodeQueueText } from '../../cli/dlq/azure.ts';
import { Progress, renderBar } from '../../cli/dlq/progress.ts';
import { DLQ_HELP, dlqCommand, isAmbiguous, parseQueue, summaryLine, table } from '../../cli/dlq.ts';

async function run(args: string[]) {
  const lines: string[] = [];
  const code = await dlqCommand(args, (l) => lines.push(l), { tty: false, env: {} });
  return { code, lines, text: lines.join('\n') };
}

describe('the progress bar', () => {
  it('fills in proportion to the messages taken, with what became of them', () => {
    const tally = { replayed: 0, skipped: 0, failed: 0 };
    expect(renderBar({ ...tally, done: 0, total: 8 })).toBe(
      '[░░░░░░░░░░░░░░░░░░░░░░░░] 0/8  replayed 0 · skipped 0 · failed 0',
    );
    expect(renderBar({ done: 3, total: 8, replayed: 2, skipped: 1, failed: 0 }, 80, 8)).toBe(
      '[███░░░░░] 3/8  replayed 2 · skipped 1 · failed 0',
    );
    expect(renderBar({ done: 8, total: 8, replayed: 6, skipped: 1, failed: 1 }, 80, 8)).toBe(
      '[████████] 8/8  replayed 6 · skipped 1 · failed 1',
    );
  });

  it('more taken than the approximate total the queue gave: full, never past full', () => {
    expect(renderBar({ done: 12, total: 10, replayed: 12, skipped: 0, failed: 0 }, 80, 10)).toBe(
      '[██████████] 12/10  replayed 12 · skipped 0 · failed 0',
    );
  });

  it('no total (Pub/Sub, OCI): the count alone; a dry run says "would replay"', () => {
    expect(renderBar({ done: 5, replayed: 4, skipped: 1, failed: 0, dryRun: true })).toBe(
      '5 taken  would replay 4 · skipped 1 · failed 0',
    );
  });

  it('never wider than the terminal', () => {
    const line = renderBar({ done: 1, total: 2, replayed: 1, skipped: 0, failed: 0 }, 20);
    expect(line).toHaveLength(20);
    expect(line.endsWith('…')).toBe(true);
  });
});

describe('progress output', () => {
  it('off a terminal: every line as it is, no control characters, no bar', () => {
    const lines: string[] = [];
    const writes: string[] = [];
    const progress = new Progress({ tty: false, write: (t) => writes.push(t) }, (l) => lines.push(l));
    progress.update({ done: 1, total: 2, replayed: 1, skipped: 0, failed: 0 });
    progress.line('replayed a as b');
    progress.line('failed c: no', true);
    progress.end();
    expect(lines).toEqual(['replayed a as b', 'failed c: no']);
    expect(writes).toEqual([]);
  });

  it('on a terminal: the bar redrawn in place; only failures printed, above it; cleared at the end', () => {
    const events: string[] = [];
    const progress = new Progress(
      { tty: true, write: (t) => events.push(`write ${JSON.stringify(t)}`), columns: 60 },
      (l) => events.push(`line ${l}`),
    );
    const tally = { done: 1, total: 2, replayed: 1, skipped: 0, failed: 0 };
    progress.update(tally);
    progress.line('replayed a as b');
    progress.line('failed c: no', true);
    progress.update({ ...tally, done: 2, failed: 1 });
    progress.end();
    const bar = (t: typeof tally) => `write ${JSON.stringify(`\r\x1b[2K${renderBar(t, 60)}`)}`;
    expect(events).toEqual([
      bar(tally),
      `write ${JSON.stringify('\r\x1b[2K')}`,
      'line failed c: no',
      bar(tally),
      bar({ ...tally, done: 2, failed: 1 }),
      `write ${JSON.stringify('\r\x1b[2K')}`,
    ]);
  });
});

describe('reading the command line', () => {
  it('a queue names its cloud by prefix or by its form', () => {
    expect(parseQueue('sqs:https://sqs.eu-west-1.amazonaws.com/1/q', '--from')).toEqual({
      cloud: 'sqs',
      name: 'https://sqs.eu-west-1.amazonaws.com/1/q',
    });
    expect(parseQueue('https://sqs.eu-west-1.amazonaws.com/1/q', '--from').cloud).toBe('sqs');
    expect(parseQueue('azure:mailroute-failed', '--from')).toEqual({ cloud: 'azure', name: 'mailroute-failed' });
    expect(parseQueue('mailroute-send', '--to', 'azure')).toEqual({ cloud: 'azure', name: 'mailroute-send' });
    expect(parseQueue('projects/p-123456/subscriptions/s', '--from').cloud).toBe('pubsub');
    expect(parseQueue('pubsub:projects/p-123456/topics/t', '--to').cloud).toBe('pubsub');
    expect(parseQueue('ocid1.queue.oc1.iad.aaaa', '--from')).toEqual({
      cloud: 'oci',
      name: 'ocid1.queue.oc1.iad.aaaa',
    });
    expect(() => parseQueue('mailroute-failed', '--from')).toThrow(/names no queue mailroute knows: use sqs:QUEUE_URL/);
  });

  it('--help, and every mistake as one USAGE line with exit 2', async () => {
    expect(await run(['--help'])).toMatchObject({ code: 0, text: DLQ_HELP });
    expect(await run(['replay', '--help'])).toMatchObject({ code: 0, text: DLQ_HELP });
    expect((await run([])).code).toBe(2);
    const cases: [string[], RegExp][] = [
      [['purge', '--from', 'azure:x'], /unknown dlq command "purge": use list or replay/],
      [['list'], /dlq list needs --from QUEUE/],
      [['list', '--from', 'azure:x', '--to', 'azure:y'], /--to goes with dlq replay/],
      [['replay', '--from', 'azure:x'], /dlq replay needs --to QUEUE/],
      [
        ['replay', '--from', 'azure:x', '--to', 'sqs:https://sqs.eu-west-1.amazonaws.com/1/q'],
        /a replay stays on one cloud/,
      ],
      [
        ['replay', '--from', 'azure:x', '--to', 'azure:y', '--max', '0'],
        /--max must be a whole number, at least 1, not "0"/,
      ],
      [['replay', '--from', 'azure:x', '--to', 'azure:y', '--lease', 'soon'], /--lease must be a whole number/],
      [['list', '--from', 'azure:x', '--endpoint', 'localhost:4566'], /--endpoint must be an http\(s\) URL/],
      [['list', '--from', 'azure:x', '--frm', 'y'], /Unknown option '--frm'/],
      [['list', '--from', 'azure:x', 'extra'], /unexpected argument "extra"/],
    ];
    for (const [args, message] of cases) {
      const { code, text } = await run(args);
      expect(code).toBe(2);
      expect(JSON.parse(text)).toEqual({
        ok: false,
        error: { code: 'USAGE', message: expect.stringMatching(message) },
      });
    }
  });

  it('a poison queue needs no --to: it replays to the queue it came from', async () => {
    // Past the usage checks: it stops at the missing connection string, a setup error (exit 1).
    const { code, text } = await run(['replay', '--from', 'azure:mailroute-send-poison']);
    expect(code).toBe(1);
    expect(text).toMatch(/AZURE_STORAGE_CONNECTION_STRING is not set/);
  });
});

describe('what the listing and summary say', () => {
  it('ambiguous: the AMBIGUOUS error code, or a reason the batch wrote as "ambiguous: ..."', () => {
    expect(isAmbiguous({ errorCode: 'AMBIGUOUS' })).toBe(true);
    expect(isAmbiguous({ errorCode: 'UNKNOWN', reason: 'ambiguous: the connection dropped' })).toBe(true);
    expect(isAmbiguous({ errorCode: 'RECIPIENT_REJECTED', reason: 'RECIPIENT_REJECTED: ambiguous wording' })).toBe(
      false,
    );
    expect(isAmbiguous({})).toBe(false);
  });

  it('a table with aligned columns; what a message lacks is "-"', () => {
    const lines = table([
      {
        id: 'm-1',
        handle: 'h',
        body: '{}',
        errorCode: 'AMBIGUOUS',
        reason: 'ambiguous: dropped\nafter DATA',
        firstSeen: '2026-11-29T10:15:02.123Z',
        receiveCount: 3,
      },
      { id: 'message-22', handle: 'h', body: '{}' },
    ]);
    expect(lines).toEqual([
      'ID          ERROR CODE  REASON                         FIRST SEEN            RECEIVES',
      'm-1         AMBIGUOUS   ambiguous: dropped after DATA  2026-11-29 10:15:02Z         3',
      'message-22  -           -                              -                            -',
    ]);
  });

  it('the summary: replayed, skipped ambiguous, failed, left, and why it stopped', () => {
    const tally = { done: 4, replayed: 2, skipped: 1, failed: 1 };
    expect(summaryLine(tally, 2)).toBe(
      'Summary: replayed 2, skipped ambiguous 1, failed 1, left in the dead-letter queue 2.',
    );
    expect(summaryLine({ ...tally, dryRun: true }, 4, 'max')).toBe(
      'Summary: would replay 2, skipped ambiguous 1, failed 1, left in the dead-letter queue 4 (stopped at --max: more may be waiting). Dry run: nothing was changed.',
    );
    expect(summaryLine(tally, 2, 'error')).toMatch(/queue 2 \(stopped early: more may be waiting\)\.$/);
  });

  it('Storage Queue texts: base64 decoded, anything else kept as it is', () => {
    expect(decodeQueueText(Buffer.from('{"a":"é"}').toString('base64'))).toBe('{"a":"é"}');
    expect(decodeQueueText('{"a":1}')).toBe('{"a":1}');
    expect(decodeQueueText('abcd')).toBe('abcd'); // base64 of bytes that are not UTF-8 text
    expect(decodeQueueText('')).toBe('');
  });
});
