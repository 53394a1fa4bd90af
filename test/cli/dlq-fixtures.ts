import { describe, expect, it } from 'vitest';
import { type DlqIo, dlqCommand } from '../../cli/dlq.ts';
import {
  AmbiguousDeliveryError,
  ContentRejectedError,
  type MailrouteError,
  RecipientRejectedError,
} from '../../core/errors.ts';
import {
  classifyFailure,
  type DeadLetterSink,
  deadLetterRecord,
  type QueueRecord,
} from '../../core/runtime/queue-batch.ts';

/** A small message as a producer writes it (the JSON text a send queue holds). */
export function messageBody(subject: string): string {
  return JSON.stringify({ from: 'app@example.com', to: 'ann@example.net', subject, text: `Body of ${subject}.` });
}

export interface Letter {
  record: QueueRecord;
  error: MailrouteError;
}

/** Three dead letters as the queue functions make them: two permanent failures and one ambiguous delivery. */
export function threeLetters(tag: string): Letter[] {
  return [
    {
      record: { id: `src-rejected-${tag}`, body: messageBody(`rejected ${tag}`), receiveCount: 2 },
      error: new RecipientRejectedError([{ address: 'ann@example.net', reason: '550 5.1.1 no such user' }]),
    },
    {
      record: { id: `src-content-${tag}`, body: messageBody(`content ${tag}`), receiveCount: 1 },
      error: new ContentRejectedError('554 5.7.1 message refused by policy'),
    },
    {
      record: { id: `src-ambiguous-${tag}`, body: messageBody(`ambiguous ${tag}`), receiveCount: 3 },
      error: new AmbiguousDeliveryError('the connection dropped after the message was handed over'),
    },
  ];
}

/**
 * Sets each record aside the way a queue function does: the failure classified (`classifyFailure`), then written
 * through the cloud's own dead-letter sink by `deadLetterRecord`.
 */
export async function writeDeadLetters(sink: DeadLetterSink, letters: Letter[]): Promise<void> {
  for (const { record, error } of letters) {
    const failure = classifyFailure(error);
    expect(failure.status).toBe('dead-letter');
    const outcome = await deadLetterRecord(record, failure as Required<typeof failure>, { deadLetter: sink });
    expect(outcome.status).toBe('dead-letter');
  }
}

/** One test's queues on one emulator. */
export interface DlqQueues {
  /** `--from` (with its cloud prefix). */
  from: string;
  /** `--to`. */
  to: string;
  /** A `--to` whose enqueue fails (a queue that does not exist, or a closed port). */
  badTo: string;
  /** Writes dead letters with the function's own sink. */
  put(letters: Letter[]): Promise<void>;
  /** The original bodies still in the dead-letter place (leased or not). */
  dlqBodies(): Promise<string[]>;
  /** The bodies the send queue received. */
  sentBodies(): Promise<string[]>;
}

export interface DlqCloud {
  name: string;
  /** New, empty queues for one test. */
  fresh(): Promise<DlqQueues>;
  /** Flags every command needs on this cloud (`--endpoint`, ...). */
  args: () => string[];
  env: () => NodeJS.ProcessEnv;
}

/** Runs `mailroute dlq ...` as the CLI does, off a terminal, and returns its exit code and lines. */
export async function run(args: string[], cloud: DlqCloud, io: DlqIo = {}) {
  const lines: string[] = [];
  const code = await dlqCommand([...args, ...cloud.args()], (l) => lines.push(l), {
    tty: false,
    env: cloud.env(),
    ...io,
  });
  return { code, lines, text: lines.join('\n') };
}

const sorted = (list: string[]) => [...list].sort();

/**
 * The acceptance of `mailroute dlq` on one cloud's emulator: list, dry run, replay leaving the ambiguous one,
 * --include-ambiguous, a failed re-enqueue that leaves the message, two replays at once, JSON output.
 */
export function dlqSuite(cloud: DlqCloud): void {
  describe(`mailroute dlq on ${cloud.name}`, () => {
    it('list shows the three dead letters as the function wrote them, and leaves them all in place', async () => {
      const q = await cloud.fresh();
      const letters = threeLetters('list');
      await q.put(letters);
      const { code, lines } = await run(['list', '--from', q.from], cloud);
      expect(code).toBe(0);
      expect(lines[0]).toMatch(/^ID\s+ERROR CODE\s+REASON\s+FIRST SEEN\s+RECEIVES$/);
      const rows = lines.slice(1, 4);
      expect(rows.map((r) => r.split(/\s{2,}/)[1]).sort()).toEqual([
        'AMBIGUOUS',
        'CONTENT_REJECTED',
        'RECIPIENT_REJECTED',
      ]);
      expect(rows.join('\n')).toMatch(/ambiguous: the connection dropped/);
      expect(rows.every((r) => /\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/.test(r))).toBe(true);
      expect(lines[4]).toMatch(
        /^3 dead letters in .*; 1 AMBIGUOUS, left alone by replay unless --include-ambiguous\.$/,
      );

      const json = await run(['list', '--from', q.from, '--json'], cloud);
      const listed = JSON.parse(json.text) as {
        count: number;
        messages: {
          body: string;
          errorCode: string;
          sourceMessageId: string;
          ambiguous: boolean;
          receiveCount: number;
        }[];
      };
      expect(listed.count).toBe(3);
      const bySource = Object.fromEntries(listed.messages.map((m) => [m.sourceMessageId, m]));
      for (const { record, error } of letters) {
        expect(bySource[record.id]).toMatchObject({
          body: record.body,
          errorCode: error.code,
          ambiguous: error.code === 'AMBIGUOUS',
          receiveCount: record.receiveCount,
        });
      }
      expect(await q.dlqBodies()).toHaveLength(3);
      expect(await q.sentBodies()).toEqual([]);
    });

    it('replay --dry-run says what it would do and changes nothing', async () => {
      const q = await cloud.fresh();
      await q.put(threeLetters('dry'));
      const { code, lines } = await run(['replay', '--from', q.from, '--to', q.to, '--dry-run'], cloud);
      expect(code).toBe(0);
      expect(lines[0]).toMatch(/^Dry run: nothing will change\. Replaying /);
      expect(lines.filter((l) => l.startsWith('would replay '))).toHaveLength(2);
      expect(lines.filter((l) => l.startsWith('would skip '))).toEqual([
        expect.stringMatching(/\(AMBIGUOUS\): may have been delivered already/),
      ]);
      expect(lines.at(-1)).toBe(
        'Summary: would replay 2, skipped ambiguous 1, failed 0, left in the dead-letter queue 3. Dry run: nothing was changed.',
      );
      expect(await q.sentBodies()).toEqual([]);
      expect(await q.dlqBodies()).toHaveLength(3);
      // Given back at once, not left leased: a list right after sees all three.
      expect((await run(['list', '--from', q.from, '--json'], cloud)).text).toMatch(/"count": 3/);
    });

    it('replay moves the two to the send queue, bodies unchanged, and leaves the ambiguous one; --include-ambiguous moves it too', async () => {
      const q = await cloud.fresh();
      const letters = threeLetters('move');
      await q.put(letters);
      const first = await run(['replay', '--from', q.from, '--to', q.to], cloud);
      expect(first.code).toBe(0);
      expect(first.lines.filter((l) => l.startsWith('replayed '))).toEqual([
        expect.stringMatching(/^replayed \S+ \((RECIPIENT|CONTENT)_REJECTED\) as \S+$/),
        expect.stringMatching(/^replayed \S+ \((RECIPIENT|CONTENT)_REJECTED\) as \S+$/),
      ]);
      expect(first.lines.filter((l) => l.startsWith('skipped '))).toHaveLength(1);
      expect(first.lines.at(-1)).toBe(
        'Summary: replayed 2, skipped ambiguous 1, failed 0, left in the dead-letter queue 1.',
      );
      expect(sorted(await q.sentBodies())).toEqual(sorted([letters[0]!.record.body, letters[1]!.record.body]));
      expect(await q.dlqBodies()).toEqual([letters[2]!.record.body]);

      const again = await run(['replay', '--from', q.from, '--to', q.to, '--include-ambiguous'], cloud);
      expect(again.code).toBe(0);
      expect(again.lines.filter((l) => l.startsWith('replayed '))).toEqual([
        expect.stringMatching(/^replayed \S+ \(AMBIGUOUS\) as \S+$/),
      ]);
      expect(again.lines.at(-1)).toBe(
        'Summary: replayed 1, skipped ambiguous 0, failed 0, left in the dead-letter queue 0.',
      );
      expect(sorted(await q.sentBodies())).toEqual(sorted(letters.map((l) => l.record.body)));
      expect(await q.dlqBodies()).toEqual([]);
      const empty = await run(['list', '--from', q.from], cloud);
      expect(empty.lines).toEqual([expect.stringMatching(/^No dead letters in /)]);
    });

    it('a re-enqueue that fails leaves the message in the dead-letter queue, visible again', async () => {
      const q = await cloud.fresh();
      const [letter] = threeLetters('fail');
      await q.put([letter!]);
      const { code, lines } = await run(['replay', '--from', q.from, '--to', q.badTo], cloud);
      expect(code).toBe(1);
      expect(lines.filter((l) => l.startsWith('failed '))).toEqual([
        expect.stringMatching(/^failed \S+ \(RECIPIENT_REJECTED\): .+ \(left in the dead-letter queue\)$/),
      ]);
      expect(lines.at(-1)).toBe('Summary: replayed 0, skipped ambiguous 0, failed 1, left in the dead-letter queue 1.');
      expect(await q.dlqBodies()).toEqual([letter!.record.body]);
      expect(await q.sentBodies()).toEqual([]);
      // Released, not waiting out its lease: the next replay takes it and succeeds.
      const retried = await run(['replay', '--from', q.from, '--to', q.to], cloud);
      expect(retried.code).toBe(0);
      expect(await q.sentBodies()).toEqual([letter!.record.body]);
      expect(await q.dlqBodies()).toEqual([]);
    });

    it('two replays at once never take the same message: each is sent once', async () => {
      const q = await cloud.fresh();
      const letters = [...threeLetters('a'), ...threeLetters('b')].filter((l) => l.error.code !== 'AMBIGUOUS');
      await q.put(letters);
      const [one, two] = await Promise.all([
        run(['replay', '--from', q.from, '--to', q.to, '--json'], cloud),
        run(['replay', '--from', q.from, '--to', q.to, '--json'], cloud),
      ]);
      const replayed = [one, two].map((r) => (JSON.parse(r.text) as { replayed: number }).replayed);
      expect(replayed[0]! + replayed[1]!).toBe(4);
      expect(sorted(await q.sentBodies())).toEqual(sorted(letters.map((l) => l.record.body)));
      expect(await q.dlqBodies()).toEqual([]);
    });

    it('--json and --max: one document, at most N taken', async () => {
      const q = await cloud.fresh();
      await q.put(threeLetters('json').slice(0, 2));
      const { code, text } = await run(['replay', '--from', q.from, '--to', q.to, '--json', '--max', '1'], cloud);
      expect(code).toBe(0);
      const result = JSON.parse(text) as Record<string, unknown>;
      expect(result).toMatchObject({
        ok: true,
        dryRun: false,
        replayed: 1,
        skippedAmbiguous: 0,
        failed: 0,
        left: 0,
        maxReached: true,
        messages: [{ action: 'replayed', newId: expect.any(String) }],
      });
      expect(await q.sentBodies()).toHaveLength(1);
      expect(await q.dlqBodies()).toHaveLength(1);
    });
  });
}
