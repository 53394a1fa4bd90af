import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { processBatch, type QueueRecord } from '../../core/runtime/queue-batch.ts';
import { createAdapter } from '../../providers/index.ts';

/** A port nothing listens on: connections to it are refused, as with a provider that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const good = (i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    from: 'app@example.com',
    to: `user${i}@example.com`,
    subject: `Message ${i}`,
    text: 'Hello',
    ...extra,
  });

let outbox: string;
let mailer: Mailer;
const deadLetters: { id: string; body: string; reason: string }[] = [];
const sink = async (record: QueueRecord, reason: string) => {
  deadLetters.push({ id: record.id, body: record.body, reason });
};

beforeAll(async () => {
  outbox = mkdtempSync(join(tmpdir(), 'mr-batch-'));
  mailer = new Mailer(
    validateConfig({
      providers: [
        { name: 'ok', provider: 'local', mode: 'api' },
        { name: 'down', provider: 'local', mode: 'smtp', smtp: { host: '127.0.0.1', port: await closedPort() } },
      ],
      routes: [
        { name: 'main', providers: ['ok'] },
        { name: 'broken', providers: ['down'] },
      ],
      defaultRoute: 'main',
      outboxDir: outbox,
      retry: { maxAttempts: 1 },
    }),
    createAdapter,
  );
});
afterAll(() => mailer.close());

const sentFiles = () => readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;

describe('processBatch', () => {
  it('sends the good records, dead-letters the permanent failures with their reason, retries the rest', async () => {
    deadLetters.length = 0;
    const records: QueueRecord[] = [
      { id: 'm1', body: good(1) },
      { id: 'm2', body: '{not json' },
      { id: 'm3', body: good(3, { subject: 'bad\r\nBcc: x@example.com' }) },
      { id: 'm4', body: good(4, { route: 'broken' }) },
      { id: 'm5', body: good(5) },
    ];
    const outcomes = await processBatch(records, { mailer, deadLetter: sink, concurrency: 3 });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['m1', 'sent'],
      ['m2', 'dead-letter'],
      ['m3', 'dead-letter'],
      ['m4', 'retry'],
      ['m5', 'sent'],
    ]);
    expect(deadLetters.map((d) => d.id).sort()).toEqual(['m2', 'm3']);
    expect(deadLetters.find((d) => d.id === 'm2')).toMatchObject({
      body: '{not json',
      reason: expect.stringMatching(/^INVALID_JSON/),
    });
    expect(deadLetters.find((d) => d.id === 'm3')?.reason).toMatch(/^INVALID_MESSAGE: .*subject/);
    expect(sentFiles()).toBe(2);
  });

  it('never sends a redelivered record twice: the queue message id is the idempotency key', async () => {
    const before = sentFiles();
    const records: QueueRecord[] = [
      { id: 'r1', body: good(10) },
      { id: 'r2', body: good(11) },
    ];
    await processBatch(records, { mailer, deadLetter: sink });
    const again = await processBatch(records, { mailer, deadLetter: sink });
    expect(again.map((o) => o.status)).toEqual(['duplicate', 'duplicate']);
    expect(sentFiles()).toBe(before + 2);
  });

  it('keeps FIFO order: after a retry in a group, the rest of that group is held back unsent', async () => {
    const before = sentFiles();
    const records: QueueRecord[] = [
      { id: 'f1', body: good(20), groupId: 'a' },
      { id: 'f2', body: good(21, { route: 'broken' }), groupId: 'a' },
      { id: 'f3', body: good(22), groupId: 'a' },
      { id: 'f4', body: good(23), groupId: 'b' },
    ];
    const outcomes = await processBatch(records, { mailer, deadLetter: sink });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['f1', 'sent'],
      ['f2', 'retry'],
      ['f3', 'retry'],
      ['f4', 'sent'],
    ]);
    expect(outcomes[2]).toMatchObject({ reason: 'held back: f2 failed earlier in group a' });
    expect(sentFiles()).toBe(before + 2);
  });

  it('sets aside a record whose every recipient is suppressed, with SUPPRESSED as its reason; one with some left is sent', async () => {
    await mailer.events.suppressions.add({
      address: 'gone@example.com',
      reason: 'complained',
      provider: 'acs',
      since: new Date().toISOString(),
    });
    deadLetters.length = 0;
    const before = sentFiles();
    const outcomes = await processBatch(
      [
        {
          id: 's1',
          body: JSON.stringify({ from: 'app@example.com', to: 'gone@example.com', subject: 'x', text: 'y' }),
        },
        {
          id: 's2',
          body: JSON.stringify({
            from: 'app@example.com',
            to: ['gone@example.com', 'kept@example.com'],
            subject: 'x',
            text: 'y',
          }),
        },
      ],
      { mailer, deadLetter: sink },
    );
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['s1', 'dead-letter'],
      ['s2', 'sent'],
    ]);
    expect(deadLetters.map((d) => d.id)).toEqual(['s1']);
    expect(deadLetters[0]!.reason).toMatch(
      /^SUPPRESSED: every recipient is suppressed: gone@example.com \(complained on acs\)/,
    );
    expect(sentFiles()).toBe(before + 1);
  });

  it('keeps a record on the queue when the dead-letter place cannot take it', async () => {
    const failing = async () => {
      throw new Error('DLQ unreachable');
    };
    const [outcome] = await processBatch([{ id: 'd1', body: 'nope' }], { mailer, deadLetter: failing });
    expect(outcome).toMatchObject({
      status: 'retry',
      reason: expect.stringContaining('dead-letter write failed (DLQ unreachable)'),
    });
  });
});
