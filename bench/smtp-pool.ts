import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { type ComposedMessage, composeMessage } from '../core/message/compose.ts';
import type { MessageInput } from '../core/message/message.ts';
import { normalizeMessage } from '../core/message/validate.ts';
import { createAdapter } from '../providers/index.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const COUNT = 600;
const ROUNDS = 7;
const UNPOOLED_COUNT = 60;
const UNPOOLED_ROUNDS = 3;
const CONCURRENCY = 20;
const CONNECTIONS = 5;
const USER = 'AKIABENCHSMTPUSER001';
const PASS = 'bench-smtp-password-0123456789';
const SERVER_ROLE = 'smtp-pool-server';
const TLS_DIR = new URL('../test/fixtures/tls/', import.meta.url);
const CA = readFileSync(new URL('cert.pem', TLS_DIR), 'utf8');

// The SMTP server runs in a worker thread of this same module, so that it has its own event loop (and core).
if (!isMainThread && workerData?.role === SERVER_ROLE) serveSmtp();

function serveSmtp(): void {
  const server = new SMTPServer({
    key: readFileSync(new URL('key.pem', TLS_DIR)),
    cert: CA,
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === USER && auth.password === PASS) return callback(null, { user: USER });
      callback(Object.assign(new Error('Authentication Credentials Invalid'), { responseCode: 535 }));
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback(null, 'Ok 0100018c5f1b2a3d-7c9e0f11-2222-4444-8888-abcdefabcdef-000000'));
    },
  });
  server.listen(0, '127.0.0.1', () => parentPort?.postMessage((server.server.address() as { port: number }).port));
}

const SIDES = {
  mailroute: '`Mailer.send()`, SES SMTP adapter',
  engine: "that adapter's `send()` with the message composed beforehand",
  'nodemailer-raw': 'raw nodemailer `sendMail({ raw, envelope })`, composed beforehand',
  'nodemailer-compose': 'raw nodemailer `sendMail()` composing the message itself',
  'mailroute-unpooled': '`Mailer.send()`, a connection per message (`pool.maxMessages: 1`)',
  'nodemailer-unpooled': 'raw nodemailer `sendMail({ raw, envelope })`, not pooled',
};
type Side = keyof typeof SIDES;
type Sender = { send: () => Promise<unknown>; close: () => Promise<void> | void };

/**
 * SMTP mode through `Mailer.send()` (an SES SMTP adapter, STARTTLS and AUTH, to a loopback smtp-server) against
 * raw pooled nodemailer sending the same message composed beforehand to the same server, sides rotated round by
 * round so drift on the machine affects all alike; then pooled against a connection per message.
 */
export async function run(): Promise<BenchSection> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: SERVER_ROLE } });
  const [port] = (await once(worker, 'message')) as [number];
  process.env.MAILROUTE_BENCH_SMTP_USER = USER;
  process.env.MAILROUTE_BENCH_SMTP_PASS = PASS;
  const input = benchMessage();
  const prepared = await composeMessage(normalizeMessage(input));
  const rates = Object.fromEntries(Object.keys(SIDES).map((s) => [s, [] as number[]])) as Record<Side, number[]>;

  const measure = async (side: Side, count: number) => {
    const sender = openSender(side, port, input, prepared);
    // Warm up: the pooled connections opened and signed in before the clock starts.
    if (!side.endsWith('unpooled')) await drive(CONNECTIONS * 4, CONCURRENCY, sender.send);
    const ms = await drive(count, CONCURRENCY, sender.send);
    await sender.close();
    rates[side].push((count / ms) * 1000);
  };
  try {
    const pooled: Side[] = ['mailroute', 'engine', 'nodemailer-raw', 'nodemailer-compose'];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < pooled.length; i++) await measure(pooled[(round + i) % pooled.length]!, COUNT);
    }
    const unpooled: Side[] = ['mailroute-unpooled', 'nodemailer-unpooled'];
    for (let round = 0; round < UNPOOLED_ROUNDS; round++) {
      for (let i = 0; i < unpooled.length; i++) await measure(unpooled[(round + i) % 2]!, UNPOOLED_COUNT);
    }
  } finally {
    await worker.terminate();
  }
  return report(rates, prepared.size);
}

function openSender(side: Side, port: number, input: MessageInput, prepared: ComposedMessage): Sender {
  if (side === 'mailroute' || side === 'engine' || side === 'mailroute-unpooled') {
    const pool: Record<string, number> =
      side === 'mailroute-unpooled' ? { maxConnections: CONCURRENCY, maxMessages: 1 } : {};
    const mailer = new Mailer(validateConfig({ providers: [sesEntry(port, pool)] }), createAdapter);
    const adapter = mailer.adapter();
    return {
      send: side === 'engine' ? async () => (await adapter).send(prepared, {}) : () => mailer.send(input),
      close: () => mailer.close(),
    };
  }
  const transport = createTransport({
    ...(side === 'nodemailer-unpooled' ? {} : { pool: true as const, maxConnections: CONNECTIONS, maxRequeues: 0 }),
    host: '127.0.0.1',
    port,
    requireTLS: true,
    tls: { ca: CA, servername: 'localhost', minVersion: 'TLSv1.2' as const },
    auth: { user: USER, pass: PASS },
  });
  const { from, to, subject, text, html } = input;
  const attachments = input.attachments?.map((a) => ({ ...a, encoding: 'base64' }));
  return {
    send:
      side === 'nodemailer-compose'
        ? () =>
            transport.sendMail({ from, to, subject, text, html, attachments } as Parameters<
              typeof transport.sendMail
            >[0])
        : () => transport.sendMail({ raw: prepared.raw, envelope: prepared.envelope }),
    close: () => transport.close(),
  };
}

function report(rates: Record<Side, number[]>, size: number): BenchSection {
  const m = (side: Side) => median(rates[side]);
  const ratio = (a: Side, b: Side) => fmt(m(a) / m(b), 3);
  const row = (side: Side) => `| ${SIDES[side]} | ${fmt(m(side))} | ${rates[side].map((r) => fmt(r)).join(', ')} |`;
  return {
    title: 'SMTP mode: pooled send() against raw pooled nodemailer, STARTTLS + AUTH',
    markdown: [
      `${COUNT} messages per round (text + html + a 2 KiB attachment, ${fmt(size / 1024, 1)} KiB encoded), ${CONCURRENCY} in`,
      `flight, ${CONNECTIONS} pooled connections, to one loopback smtp-server (STARTTLS, AUTH PLAIN) running in a worker`,
      `thread; ${ROUNDS} rounds, sides rotated, all in one process. \`Mailer.send()\` validates, composes, checks the`,
      "adapter's limits and sends through the SMTP engine.",
      '',
      '| side | median msg/s | per round |',
      '| --- | ---: | --- |',
      ...(['mailroute', 'engine', 'nodemailer-raw', 'nodemailer-compose'] as const).map(row),
      '',
      `**Ratio send() / nodemailer composing the message itself: ${ratio('mailroute', 'nodemailer-compose')}** (goal ≥ 0.95: both`,
      'compose every message). send() / nodemailer sending bytes composed beforehand:',
      `${ratio('mailroute', 'nodemailer-raw')}; the SMTP engine alone (adapter \`send()\`, same composed bytes) / nodemailer sending`,
      `them: ${ratio('engine', 'nodemailer-raw')}. What send() adds over the engine is validating and composing each message, which`,
      'the raw-bytes side does not do.',
      '',
      `A connection per message (TLS handshake and AUTH each time; ${UNPOOLED_COUNT} messages, ${UNPOOLED_ROUNDS} rounds, up to`,
      `${CONCURRENCY} connections at once):`,
      '',
      '| side | median msg/s | per round |',
      '| --- | ---: | --- |',
      ...(['mailroute-unpooled', 'nodemailer-unpooled'] as const).map(row),
      '',
      `Pooled / a connection per message: ${fmt(m('mailroute') / m('mailroute-unpooled'), 1)}× for send(),`,
      `${fmt(m('nodemailer-raw') / m('nodemailer-unpooled'), 1)}× for nodemailer. smtp-server waits 100 ms before each`,
      'greeting (to catch early talkers); over a network a provider adds round trips instead.',
    ].join('\n'),
    summary: [
      {
        measure:
          'SMTP, pooled, STARTTLS + AUTH: `Mailer.send()` / nodemailer `sendMail()` composing the message itself (msg/s)',
        goal: '≥ 0.95',
        now: `${ratio('mailroute', 'nodemailer-compose')} (vs bytes composed beforehand: ${ratio('mailroute', 'nodemailer-raw')}; engine alone vs those: ${ratio('engine', 'nodemailer-raw')})`,
        met: m('mailroute') / m('nodemailer-compose') >= 0.95,
      },
    ],
  };
}

/** Runs `count` sends, `concurrency` at a time; any failure fails the benchmark. Returns the elapsed ms. */
async function drive(count: number, concurrency: number, send: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        started++;
        await send();
      }
    }),
  );
  return performance.now() - begin;
}

function sesEntry(port: number, pool: Record<string, number>) {
  return {
    provider: 'ses',
    mode: 'smtp',
    region: 'us-east-1',
    smtpCredentials: { username: { env: 'MAILROUTE_BENCH_SMTP_USER' }, password: { env: 'MAILROUTE_BENCH_SMTP_PASS' } },
    smtp: { host: '127.0.0.1', port, ca: CA, servername: 'localhost', pool: { maxConnections: CONNECTIONS, ...pool } },
  };
}

function benchMessage(): MessageInput {
  const paragraph = 'Your order has shipped and is on its way. '.repeat(20);
  return {
    from: { name: 'Shop', address: 'orders@example.com' },
    to: 'customer@example.net',
    subject: 'Your order has shipped',
    text: paragraph,
    html: `<p>${paragraph}</p>`,
    attachments: [
      { filename: 'invoice.txt', contentType: 'text/plain', content: Buffer.alloc(2048, 'x').toString('base64') },
    ],
  };
}
