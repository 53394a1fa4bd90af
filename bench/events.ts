import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { createAdapter } from '../providers/index.ts';
import { MemoryStore } from '../stores/memory.ts';
import { RedisStore } from '../stores/redis.ts';
import type { StateStore } from '../stores/store.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { type BenchSection, fmt, median } from './lib.ts';

// What the events half costs a send: the suppression screen before routing (one read per recipient) and the
// correlation records after it (two writes in parallel), against the same mailer with both turned off. One
// `local` provider in API mode writing the outbox on tmpfs, so the store calls are what differs.

const ROUNDS = 11;
const COUNT = 200;
const WARMUP = 300;
const SHM = '/dev/shm';

const message = (i: number) => ({
  from: 'Bench <bench@example.com>',
  to: [`user${i}@example.com`, `other${i}@example.org`],
  subject: `Events bench ${i}`,
  text: 'Hello.',
});

function mailerOn(store: StateStore, outbox: string, on: boolean): Mailer {
  const config = validateConfig({
    providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: outbox }],
    ...(on ? {} : { events: { correlate: false }, suppression: { enabled: false } }),
  });
  return new Mailer(config, createAdapter, { store });
}

async function drive(mailer: Mailer, count: number, offset: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await mailer.send(message(offset + i));
  return (performance.now() - started) / count;
}

interface Row {
  store: string;
  off: number;
  on: number;
  ratio: number;
  cpuOff: number;
  cpuOn: number;
}

async function measure(label: string, store: StateStore, outbox: string): Promise<Row> {
  const off = mailerOn(store, outbox, false);
  const on = mailerOn(store, outbox, true);
  await drive(off, WARMUP, 0);
  await drive(on, WARMUP, 1e6);
  const offMs: number[] = [];
  const onMs: number[] = [];
  const ratios: number[] = [];
  const cpu = { off: [] as number[], on: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const sides = r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    const round: Record<string, number> = {};
    for (const side of sides) {
      const before = process.cpuUsage();
      round[side] = await drive(side === 'on' ? on : off, COUNT, (r + 2) * 1e6 + (side === 'on' ? 5e5 : 0));
      const used = process.cpuUsage(before);
      cpu[side].push((used.user + used.system) / 1000 / COUNT);
    }
    offMs.push(round.off!);
    onMs.push(round.on!);
    ratios.push(round.on! / round.off!);
  }
  await Promise.all([off.close(), on.close()]);
  return {
    store: label,
    off: median(offMs),
    on: median(onMs),
    ratio: median(ratios),
    cpuOff: median(cpu.off),
    cpuOn: median(cpu.on),
  };
}

export async function run(): Promise<BenchSection> {
  const outbox = mkdtempSync(join(SHM, 'mr-bench-events-'));
  const rows: Row[] = [];
  const loadBefore = loadavg().map((n) => n.toFixed(2));
  try {
    rows.push(await measure('memory (in-process)', new MemoryStore(), outbox));
    const redis = await startRedis();
    const store = new RedisStore({ url: redis.url, keyPrefix: `bench-events-${Date.now()}:` });
    try {
      rows.push(await measure('Redis (redis-server child process, loopback)', store, outbox));
    } finally {
      await store.close();
      await redis.stop();
    }
  } finally {
    rmSync(outbox, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((n) => n.toFixed(2));
  const table = rows.map(
    (r) =>
      `| ${r.store} | ${fmt(r.off, 3)} | ${fmt(r.on, 3)} | ${fmt(r.on - r.off, 3)} | **${fmt(r.ratio, 2)}** | ${fmt(r.cpuOff, 2)} → ${fmt(r.cpuOn, 2)} |`,
  );
  return {
    title: 'Events: what the suppression screen and correlation cost a send',
    markdown: [
      `A \`Mailer\` with one \`local\` provider in API mode (outbox on tmpfs) sends sequentially small messages to two`,
      `recipients, with the events half on (the default: two suppression reads in parallel before routing, two`,
      `correlation writes in parallel after the send) and off (\`suppression.enabled: false\`, \`events.correlate:`,
      `false\`), one mailer per side on one shared store, sides alternating, ${ROUNDS} rounds of ${COUNT} after ${WARMUP}`,
      `warm-up sends per side. ms per send: medians over rounds; "on / off": median of per-round ratios. CPU: this`,
      `process's CPU time per send (not redis-server's). Load average ${loadBefore.join(', ')} before,`,
      `${loadAfter.join(', ')} after, on 2 cores.`,
      '',
      '| store | off (ms/send) | on (ms/send) | added (ms/send) | on / off | CPU off → on (ms/send) |',
      '| --- | ---: | ---: | ---: | ---: | --- |',
      ...table,
      '',
      'Each store call is one round trip on a networked store (DynamoDB, Azure Table, Redis): the screen adds one',
      'round trip before the send (the reads run in parallel) and the correlation one after it.',
    ].join('\n'),
  };
}
