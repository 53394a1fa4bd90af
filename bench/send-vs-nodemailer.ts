import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCaptureServer } from '../providers/local/capture-server.ts';
import { type BenchSection, fmt, median, runWorker } from './lib.ts';

const COUNT = 1000;
const ROUNDS = 9;
const CONCURRENCY = 20;
const CONNECTIONS = 5;

/**
 * `send()` through the embedded SMTP capture against raw nodemailer sending the same messages to the same server,
 * alternating sides round by round so that drift on the machine affects both alike.
 */
export async function run(): Promise<BenchSection> {
  const outbox = mkdtempSync(join(tmpdir(), 'mr-bench-'));
  const server = await startCaptureServer({ outboxDir: outbox });
  const results: Record<'mailroute' | 'nodemailer', { rate: number[]; rss: number[] }> = {
    mailroute: { rate: [], rss: [] },
    nodemailer: { rate: [], rss: [] },
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? (['nodemailer', 'mailroute'] as const) : (['mailroute', 'nodemailer'] as const);
      for (const side of order) {
        const r = await runWorker<{ ms: number; maxRssMb: number }>('send-worker.ts', {
          side,
          host: server.host,
          port: server.port,
          count: COUNT,
          concurrency: CONCURRENCY,
          maxConnections: CONNECTIONS,
        });
        results[side].rate.push((COUNT / r.ms) * 1000);
        results[side].rss.push(r.maxRssMb);
      }
    }
  } finally {
    await server.close();
    rmSync(outbox, { recursive: true, force: true });
  }
  const ours = median(results.mailroute.rate);
  const raw = median(results.nodemailer.rate);
  const rows = (['mailroute', 'nodemailer'] as const).map((side) => {
    const label = side === 'mailroute' ? '`Mailer.send()` (local capture, SMTP mode)' : 'raw nodemailer `sendMail()`';
    return `| ${label} | ${fmt(median(results[side].rate))} | ${results[side].rate.map((r) => fmt(r)).join(', ')} | ${fmt(median(results[side].rss))} |`;
  });
  return {
    title: 'send() against raw nodemailer, embedded SMTP capture',
    markdown: [
      `${COUNT} messages per round (text + html + a 2 KiB attachment, about 7 KB encoded), ${CONCURRENCY} in flight,`,
      `pooled, ${CONNECTIONS} connections, to the same loopback capture server (which writes each message to disk);`,
      `${ROUNDS} rounds, sides alternated, each side in its own process. Peak memory is the sender process's max RSS.`,
      '',
      '| side | median msg/s | per round | median peak RSS (MB) |',
      '| --- | ---: | --- | ---: |',
      ...rows,
      '',
      `**Ratio send() / nodemailer: ${fmt(ours / raw, 3)}** (goal ≥ 0.95). send() validates the message, composes it`,
      "once with nodemailer's own composer and hands the raw bytes to the same pooled transport.",
    ].join('\n'),
    summary: [
      {
        measure: 'SMTP, local capture: `Mailer.send()` / nodemailer `sendMail()` composing the message itself (msg/s)',
        goal: '≥ 0.95',
        now: fmt(ours / raw, 3),
        met: ours / raw >= 0.95,
      },
    ],
  };
}
