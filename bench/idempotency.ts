import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { createAdapter } from '../providers/index.ts';
import { createDynamoDbTable, DynamoDbStore } from '../stores/dynamodb.ts';
import { MemoryStore } from '../stores/memory.ts';
import { RedisStore } from '../stores/redis.ts';
import type { StateStore } from '../stores/store.ts';
import { startDynalite } from '../test/helpers/dynalite.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { type BenchSection, fmt, median } from './lib.ts';

/** The warm-up per side before the first round of each mode. */
const WARMUP = 250;
/**
 * Sends per side, sequential then 8 in flight, on a throwaway memory-store mailer before anything is measured:
 * the shared path (validate, compose, mailparser in the outbox writer) takes about a thousand sends to warm up.
 */
const GLOBAL_WARMUP = 600;
const SHM = '/dev/shm';
/**
 * Messages per run and rounds (one run per side each). Runs with 8 in flight are longer, so that a run lasts long
 * enough for a hiccup of the machine not to decide it.
 */
const MODES = [
  { label: 'sequential', concurrency: 1, count: 100, rounds: 15 },
  { label: '8 in flight', concurrency: 8, count: 300, rounds: 11 },
] as const;

const message = (i: number) => ({
  from: 'Bench <bench@example.com>',
  to: `user${i}@example.com`,
  subject: `Idempotency bench ${i}`,
  text: 'Hello.',
});

type Method = 'get' | 'put' | 'update' | 'delete';

/** A pass-through store that counts calls, split into idempotency records (`idem:…`) and everything else. */
function counting(inner: StateStore) {
  const counts = { idem: 0, other: 0, byMethod: { get: 0, put: 0, update: 0, delete: 0 } as Record<Method, number> };
  const note = (method: Method, key: string) => {
    if (key.startsWith('idem:')) {
      counts.idem++;
      counts.byMethod[method]++;
    } else counts.other++;
  };
  const store: StateStore = {
    get: (key) => {
      note('get', key);
      return inner.get(key);
    },
    put: (key, value, options) => {
      note('put', key);
      return inner.put(key, value, options);
    },
    update: (key, value, version, options) => {
      note('update', key);
      return inner.update(key, value, version, options);
    },
    delete: (key, version) => {
      note('delete', key);
      return inner.delete(key, version);
    },
  };
  const reset = () => {
    counts.idem = 0;
    counts.other = 0;
    for (const method of Object.keys(counts.byMethod) as Method[]) counts.byMethod[method] = 0;
  };
  return { store, counts, reset };
}

interface Run {
  /** Median latency of one send in this run. */
  latencyMs: number;
  /** Wall time of the run divided by the number of messages (the inverse of throughput). */
  wallPerSendMs: number;
  /** CPU time of this process (all its threads) per message: the sender, and dynalite when it is in-process. */
  cpuPerSendMs: number;
  idemCalls: number;
  otherCalls: number;
  byMethod: Record<Method, number>;
}

/** Sends `count` messages, `concurrency` in flight, each with a fresh key when `keyPrefix` is given. */
async function drive(
  mailer: Mailer,
  count: number,
  concurrency: number,
  keyPrefix: string | undefined,
): Promise<{ latencies: number[]; wallMs: number }> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        const result = await mailer.send(message(i), keyPrefix ? { idempotencyKey: `${keyPrefix}-${i}` } : {});
        latencies.push(performance.now() - t);
        if (result.duplicate || result.warnings) throw new Error(`unexpected result: ${JSON.stringify(result)}`);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started };
}

interface StoreResult {
  label: string;
  modes: { label: string; concurrency: number; baseline: Run[]; keyed: Run[] }[];
}

/** Baseline and keyed runs alternated round by round on one mailer (same adapter, same store, same warm state). */
async function measure(label: string, inner: StateStore, outbox: string): Promise<StoreResult> {
  const { store, counts, reset } = counting(inner);
  const mailer = new Mailer(
    validateConfig({ providers: [{ name: 'a', provider: 'local', mode: 'api' }], outboxDir: outbox }),
    createAdapter,
    { store },
  );
  const session = randomUUID().slice(0, 8);
  const result: StoreResult = { label, modes: [] };
  try {
    for (const mode of MODES) {
      const tag = `${session}-c${mode.concurrency}`;
      await drive(mailer, WARMUP, mode.concurrency, undefined);
      await drive(mailer, WARMUP, mode.concurrency, `${tag}-warm`);
      const baseline: Run[] = [];
      const keyed: Run[] = [];
      for (let round = 0; round < mode.rounds; round++) {
        // ABBA-style: the side that goes first changes every round, so drift over the session hits both.
        const order = round % 2 === 0 ? ['baseline', 'keyed'] : ['keyed', 'baseline'];
        for (const side of order) {
          reset();
          const cpu = process.cpuUsage();
          const { latencies, wallMs } = await drive(
            mailer,
            mode.count,
            mode.concurrency,
            side === 'keyed' ? `${tag}-r${round}` : undefined,
          );
          const used = process.cpuUsage(cpu);
          const run: Run = {
            latencyMs: median(latencies),
            wallPerSendMs: wallMs / mode.count,
            cpuPerSendMs: (used.user + used.system) / 1000 / mode.count,
            idemCalls: counts.idem / mode.count,
            otherCalls: counts.other / mode.count,
            byMethod: perSend(counts.byMethod, mode.count),
          };
          (side === 'keyed' ? keyed : baseline).push(run);
        }
      }
      result.modes.push({ label: mode.label, concurrency: mode.concurrency, baseline, keyed });
    }
  } finally {
    await mailer.close();
  }
  return result;
}

/** Warms the path every store shares, so that the first store measured is not the one paying for the JIT. */
async function warmUp(outbox: string): Promise<void> {
  const mailer = new Mailer(
    validateConfig({ providers: [{ name: 'a', provider: 'local', mode: 'api' }], outboxDir: outbox }),
    createAdapter,
  );
  try {
    for (const mode of MODES) {
      const count = mode.concurrency === 1 ? GLOBAL_WARMUP : GLOBAL_WARMUP / 2;
      await drive(mailer, count, mode.concurrency, undefined);
      await drive(mailer, count, mode.concurrency, `warm-${mode.concurrency}`);
    }
  } finally {
    await mailer.close();
  }
}

function perSend(byMethod: Record<Method, number>, count: number): Record<Method, number> {
  const out = { ...byMethod };
  for (const method of Object.keys(out) as Method[]) out[method] /= count;
  return out;
}

function callsText(runs: Run[]): string {
  const by = runs[0]!.byMethod;
  const parts = (Object.keys(by) as Method[]).filter((m) => by[m] > 0).map((m) => `${fmt(by[m], 2)} ${m}`);
  return `${fmt(median(runs.map((r) => r.idemCalls)), 2)} (${parts.join(' + ') || 'none'})`;
}

/** What a send with an idempotency key costs against the same send without one, on each state store. */
export async function run(): Promise<BenchSection> {
  const load = loadavg();
  // The outbox on tmpfs where there is one: on a disk file system, journaling and writeback of the thousands of
  // small files made a sequential send 1-2.5 ms, drifting over seconds, and buried the store calls in that noise.
  const dir = mkdtempSync(join(existsSync(SHM) ? SHM : tmpdir(), 'mr-bench-idempotency-'));
  const outboxFs = dir.startsWith(SHM) ? 'tmpfs (`/dev/shm`)' : `\`${tmpdir()}\``;
  const results: StoreResult[] = [];
  try {
    await warmUp(join(dir, 'warm-up'));
    results.push(await measure('memory (in-process)', new MemoryStore(), join(dir, 'memory')));

    const db = await startDynalite();
    const client = new DynamoDBClient({ endpoint: db.endpoint, region: db.region, credentials: db.credentials });
    try {
      await createDynamoDbTable(client, 'mailroute-bench', { timeToLive: false });
      const store = new DynamoDbStore({ tableName: 'mailroute-bench', client });
      results.push(await measure('DynamoDB (dynalite, in-process, loopback)', store, join(dir, 'dynamodb')));
    } finally {
      client.destroy();
      await db.stop();
    }

    const redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    try {
      results.push(await measure('Redis (redis-server child process, loopback)', store, join(dir, 'redis')));
    } finally {
      await store.close();
      await redis.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: string[] = [];
  const perRound: string[] = [];
  const seqAdded = new Map<
    string,
    { base: number; added: number; ratio: number; perCall: number; low: number; high: number; positive: number }
  >();
  const flightRatio = new Map<string, number>();
  let unkeyedIdem = 0;
  let unkeyedOther = 0;
  for (const r of results) {
    for (const m of r.modes) {
      const pick = (runs: Run[], f: (run: Run) => number) => median(runs.map(f));
      const seq = m.concurrency === 1;
      // Sequential: a send's latency. In flight: wall time per message (throughput's inverse), the latency aside.
      const metric = (run: Run) => (seq ? run.latencyMs : run.wallPerSendMs);
      const base = pick(m.baseline, metric);
      const keyed = pick(m.keyed, metric);
      // Paired by round (the two runs made back to back), so drift over the session cancels out.
      const ratio = median(m.keyed.map((run, i) => metric(run) / metric(m.baseline[i]!)));
      const added = median(m.keyed.map((run, i) => metric(run) - metric(m.baseline[i]!)));
      const calls = pick(m.keyed, (run) => run.idemCalls);
      unkeyedIdem = Math.max(unkeyedIdem, ...m.baseline.map((run) => run.idemCalls));
      unkeyedOther = Math.max(unkeyedOther, ...m.baseline.map((run) => run.otherCalls));
      const baseLatency = pick(m.baseline, (run) => run.latencyMs);
      const keyedLatency = pick(m.keyed, (run) => run.latencyMs);
      const latency = seq ? '–' : `${fmt(baseLatency, 2)} → ${fmt(keyedLatency, 2)}`;
      const cpu = `${fmt(
        pick(m.baseline, (run) => run.cpuPerSendMs),
        2,
      )} → ${fmt(
        pick(m.keyed, (run) => run.cpuPerSendMs),
        2,
      )}`;
      rows.push(
        `| ${r.label} | ${m.label} | ${fmt(base, 3)} | ${fmt(keyed, 3)} | ${fmt(added, 3)} | **${fmt(ratio, 2)}** | ${latency} | ${cpu} | ${callsText(m.keyed)} |`,
      );
      perRound.push(
        `- ${r.label}, ${m.label}: ${m.baseline.map((run) => fmt(metric(run), 3)).join(', ')} / ${m.keyed.map((run) => fmt(metric(run), 3)).join(', ')}`,
      );
      const short = r.label.split(' ')[0]!;
      const diffs = m.keyed.map((run, i) => metric(run) - metric(m.baseline[i]!));
      const [low, high] = [Math.min(...diffs), Math.max(...diffs)];
      const positive = diffs.filter((d) => d > 0).length / diffs.length;
      if (seq) seqAdded.set(short, { base, added, ratio, perCall: added / calls, low, high, positive });
      else flightRatio.set(short, ratio);
    }
  }
  const s = (name: string) => seqAdded.get(name)!;
  const f = (name: string) => fmt(flightRatio.get(name)!, 2);
  const endLoad = loadavg();
  const memory = s('memory');
  // The memory store's cost is a few hundredths of a ms: say so when a quarter of the rounds disagree on its sign.
  const memoryNoise =
    memory.positive > 0.25 && memory.positive < 0.75
      ? `, within this run's noise (per-round differences from ${fmt(memory.low, 3)} to ${fmt(memory.high, 3)} ms)`
      : '';
  const dynaliteFlight =
    flightRatio.get('DynamoDB')! > 1.25 * s('DynamoDB').ratio
      ? ' With 8 in flight the baseline overlaps its outbox writes (file system calls on worker threads), while' +
        " dynalite's work shares the one JavaScript thread and does not overlap, hence the higher ratio."
      : '';
  const keyedCalls = fmt(
    median(results.flatMap((r) => r.modes.flatMap((m) => m.keyed.map((run) => run.idemCalls)))),
    0,
  );

  return {
    title: 'Idempotency: what exactly-once costs per send',
    markdown: [
      `A \`Mailer\` with one \`local\` provider in API mode (writes the outbox directly, on ${outboxFs}) sends small messages`,
      '(text only) **without** an idempotency key (baseline) and **with** a fresh key per message; one mailer per',
      'store serves both sides, which alternate (the first one changing every round): sequential,',
      `${MODES[0].rounds} rounds of ${MODES[0].count} messages per side; 8 in flight, ${MODES[1].rounds} rounds of ${MODES[1].count}. Each mode`,
      `after ${WARMUP} warm-up sends per side, all after ${GLOBAL_WARMUP * 3} warm-up sends on a throwaway mailer (the shared`,
      'path is still getting faster for about a thousand sends). Sequential: median latency of one send. 8 in',
      "flight: wall time per message (throughput's inverse), with the median latency of one send beside it. CPU:",
      "this process's CPU time per message, all threads (the sender, the outbox writes, and dynalite when it is the",
      'store; not redis-server\'s). ms columns: medians over rounds; "added" and "with / without": medians of the',
      "per-round differences and ratios (each round's two runs back to back). Store calls are counted by a",
      'pass-through proxy around the store, per send, on `idem:` keys.',
      ...(dir.startsWith(SHM)
        ? [
            'The outbox is on tmpfs because on the disk (ext4) the journaling and writeback of thousands of small files',
            'made a sequential send take 1 to 2.5 ms, drifting over seconds, which buried the store calls in noise.',
          ]
        : []),
      `Load average ${load.map((l) => fmt(l, 2)).join(', ')} at the start, ${endLoad.map((l) => fmt(l, 2)).join(', ')} at the end, on 2 cores.`,
      '',
      '| store | sends | without key (ms/send) | with key (ms/send) | added (ms/send) | with / without | latency without → with (ms) | CPU without → with (ms/send) | idempotency store calls per keyed send |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
      '',
      `Unkeyed sends: at most ${fmt(unkeyedIdem, 2)} idempotency store calls per send, and at most ${fmt(unkeyedOther, 3)}`,
      'other store calls per send (the shared health record, read at most once a second, on both sides alike).',
      '',
      'Per round, ms per send, without key / with key:',
      ...perRound,
      '',
      `**Reading.** A keyed send makes ${keyedCalls} store calls that an unkeyed one does not, all on the critical path:`,
      'the claim (`put` if absent) and the attempt record (`update`, a compare-and-set) before the message is handed',
      'to the provider, and the completion (`update`) after it; no read on a fresh key. So the ratio is',
      '(send + claim + attempt record + completion) / send, about 1 + 3 × store round trip / send time, and',
      `"added" divided by ${keyedCalls} is the price of one round trip. On the memory store only the bookkeeping remains`,
      `(hashing the payload, copying records): ${fmt(s('memory').added, 3)} ms a send, ratio ${fmt(s('memory').ratio, 2)}${memoryNoise}. On Redis a`,
      `loopback round trip (ioredis, SET NX or EVALSHA) costs about ${fmt(s('Redis').perCall, 2)} ms, ${fmt(s('Redis').added, 2)} ms a send:`,
      `ratio ${fmt(s('Redis').ratio, 2)} sequential, ${f('Redis')} with 8 in flight. On dynalite one costs about ${fmt(s('DynamoDB').perCall, 2)} ms:`,
      `ratio ${fmt(s('DynamoDB').ratio, 2)} sequential, ${f('DynamoDB')} with 8 in flight. That is not waiting: dynalite runs in the`,
      "sending process, and the CPU column rises with the time, because its HTTP parsing and LevelDB, and the SDK's",
      'signing and parsing, take the same CPU as the sends; it is the price of an emulator, not of DynamoDB, whose',
      `round trip is network time.${dynaliteFlight} The baseline send here takes about ${fmt(memory.base, 1)} ms, which makes these`,
      'ratios a worst case: what carries over to production is the added time, three store round trips. For',
      'example, three 5 ms round trips to a store in the same region add 15 ms, 15 % of a 100 ms provider API call.',
    ].join('\n'),
  };
}
