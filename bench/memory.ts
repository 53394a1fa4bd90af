import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_BODY_BYTES } from '../core/config/http-config.ts';
import { type BenchSection, fmt, runWorker, type SummaryRow } from './lib.ts';

// Memory of `mailroute serve` under large bodies, measured from outside: the real bin in a child process, its
// resident set read from /proc/<pid>/status (VmRSS; the peak as VmHWM, reset through /proc/<pid>/clear_refs before
// each burst). One local capture entry in API mode (the composed message is written to an outbox in a temporary
// directory): no cloud, and the whole path of a send (the body read, parsed, validated, composed, written).
// Two servers side by side in one session: the limits as they are (48 MiB bodies, 64 MiB in flight) and as they
// were (60 MiB bodies read whole, no in-flight budget). `MAILROUTE_BENCH_QUICK=1`: fewer and smaller requests.

const QUICK = process.env.MAILROUTE_BENCH_QUICK === '1';
const CONCURRENT = QUICK ? 2 : 8;
const HUGE_BYTES = 59_000_000;
const NEAR_LIMIT_BYTES = DEFAULT_MAX_BODY_BYTES - 1024 * 1024;
const MiB = 1024 * 1024;
const SMALL_SENDS = QUICK ? 500 : 10_000;
const SMALL_CONCURRENCY = 4;
const MB = 1e6;
const SIDES = [
  { label: 'defaults: 48 MiB bodies, 64 MiB in flight', nearBytes: NEAR_LIMIT_BYTES, retry: true },
  {
    label: 'for a 400 MB box: 24 MiB, 24 MiB',
    http: { maxBodyBytes: 24 * MiB, maxInflightBytes: 24 * MiB },
    nearBytes: 23 * MiB,
    retry: true,
  },
  {
    label: 'before: 60 MiB read whole, no budget',
    http: { maxBodyBytes: 60 * MiB, maxInflightBytes: 0 },
    // The defaults' bodies, for what the budget changes.
    nearBytes: NEAR_LIMIT_BYTES,
    retry: false,
  },
];

const GOALS = { peakMb: 400, afterAboveIdleMb: 50, growthMb: 50 };

interface Server {
  child: ChildProcess;
  pid: number;
  url: string;
  stop(): Promise<void>;
}

async function startServe(dir: string, http?: Record<string, number>): Promise<Server> {
  const config = join(dir, 'mailroute.config.json');
  const outboxDir = join(dir, 'outbox');
  writeFileSync(
    config,
    JSON.stringify({
      providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir }],
      ...(http ? { http } : {}),
    }),
  );
  const bin = new URL('../bin/mailroute.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--config', config], {
    cwd: dir,
    // Its log (a line per attempt on stderr) is not read.
    env: { ...process.env, MAILROUTE_API_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const found = /serving the HTTP API on (http:\/\/\S+)/.exec(printed);
      if (found) resolve(found[1]!);
    });
    child.once('exit', (code) => reject(new Error(`mailroute serve exited with ${code}: ${printed}`)));
  });
  child.stdout?.resume();
  return {
    child,
    pid: child.pid!,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const statusOf = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
const kb = (status: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
const rss = (pid: number) => kb(statusOf(pid), 'VmRSS');

/** Resets the peak (VmHWM) to the resident set now, so the next reading is the peak of what follows. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
const peak = (pid: number) => kb(statusOf(pid), 'VmHWM');

/**
 * The resident set once it has stopped moving: read every 250 ms until it stays within 2 MB for 2 s (at most
 * 20 s), and what it was 5 s after the burst.
 */
async function settle(pid: number): Promise<{ at5s: number; settled: number; seconds: number }> {
  const started = Date.now();
  const samples: { t: number; rss: number }[] = [];
  let at5s = 0;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = Date.now() - started;
    const value = rss(pid);
    samples.push({ t: now, rss: value });
    if (!at5s && now >= 5000) at5s = value;
    const recent = samples.filter((s) => s.t >= now - 2000).map((s) => s.rss);
    const stable = now >= 2000 && Math.max(...recent) - Math.min(...recent) < 2 * MB;
    if ((stable && at5s) || now >= 20_000) return { at5s: at5s || value, settled: value, seconds: now / 1000 };
  }
}

/** A message whose JSON is exactly `bytes` long: an attachment fills it (base64 "AAAA…", zeros). */
function messageOf(bytes: number, subject: string): Buffer {
  const head = Buffer.from(
    `{"from":"Bench <bench@example.com>","to":["user@example.com"],"subject":"${subject}","text":"Attached.","attachments":[{"filename":"large.bin","content":"`,
  );
  const tail = Buffer.from('"}]}');
  const room = bytes - head.length - tail.length;
  const fill = Math.floor(room / 4) * 4;
  const body = Buffer.alloc(bytes, 0x20);
  head.copy(body, 0);
  body.fill(0x41, head.length, head.length + fill);
  // What the base64 leaves over is white space after the JSON, which it allows.
  tail.copy(body, head.length + fill);
  return body;
}

const small = (i: number) =>
  Buffer.from(
    JSON.stringify({
      from: 'Bench <bench@example.com>',
      to: [`user${i}@example.com`],
      subject: `Small ${i}`,
      text: 'Hello from the memory bench.',
    }),
  );

/** One POST /v1/send: its status, or the error that ended it (the server closed a connection it refused). */
function post(url: string, body: Buffer, agent?: Agent): Promise<{ status: number | string; retryAfter?: number }> {
  return new Promise((resolve) => {
    const req = request(`${url}/v1/send`, {
      method: 'POST',
      ...(agent ? { agent } : { agent: false }),
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    });
    let settled = false;
    const done = (outcome: { status: number | string; retryAfter?: number }) => {
      if (!settled) resolve(outcome);
      settled = true;
    };
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        done({ status: res.statusCode ?? 0, ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}) });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => done({ status: error.code ?? 'error' }));
    req.end(body);
  });
}

interface Burst {
  peak: number;
  at5s: number;
  settled: number;
  outcomes: Record<string, number>;
  seconds: number;
}

/**
 * `count` requests at once; with `retry`, each answered 503 is sent again after its Retry-After, until every one
 * is answered otherwise. The peak resident set over the burst, and the resident set after it.
 */
async function burst(server: Server, body: Buffer, count: number, retry: boolean): Promise<Burst> {
  resetPeak(server.pid);
  const started = performance.now();
  const outcomes: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: count }, async () => {
      for (;;) {
        const answer = await post(server.url, body);
        const key = String(answer.status);
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (!(retry && answer.status === 503)) return;
        await new Promise((resolve) => setTimeout(resolve, (answer.retryAfter ?? 1) * 1000));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const top = peak(server.pid);
  const after = await settle(server.pid);
  return { peak: top, at5s: after.at5s, settled: after.settled, outcomes, seconds };
}

/** `count` small sends, `concurrency` at a time over keep-alive connections: the resident set before and after. */
async function smallSends(server: Server, count: number, concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const outcomes: Record<string, number> = {};
  const drive = async (from: number, to: number, tally: boolean) => {
    let next = from;
    const worker = async () => {
      while (next < to) {
        const answer = await post(server.url, small(next++), agent);
        if (tally) outcomes[String(answer.status)] = (outcomes[String(answer.status)] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  // Warm-up: what the first sends load and set up once is not growth.
  await drive(-200, 0, false);
  const before = (await settle(server.pid)).settled;
  resetPeak(server.pid);
  const started = performance.now();
  await drive(0, count, true);
  const seconds = (performance.now() - started) / 1000;
  const top = peak(server.pid);
  const after = (await settle(server.pid)).settled;
  agent.destroy();
  return { before, after, peak: top, outcomes, seconds };
}

interface SideSpec {
  label: string;
  /** The configuration's `http` block; undefined: the defaults. */
  http?: Record<string, number>;
  /** The bodies of the burst near the limit: 1 MiB under the side's limit (the defaults' for the side before). */
  nearBytes: number;
  /** Whether a 503 is retried after its Retry-After (only a server that has a budget answers it). */
  retry: boolean;
}

interface Side extends SideSpec {
  idle: number;
  huge: Burst;
  near: Burst;
}

async function measureSide(spec: SideSpec, huge: Buffer): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-bench-memory-'));
  const server = await startServe(dir, spec.http);
  try {
    for (let i = 0; i < 20; i++) await post(server.url, small(i));
    const idle = (await settle(server.pid)).settled;
    const hugeBurst = await burst(server, huge, CONCURRENT, false);
    // Retried on 503 after its Retry-After, as a client should: every message is sent in the end.
    const nearBurst = await burst(server, messageOf(spec.nearBytes, 'Near the limit'), CONCURRENT, spec.retry);
    return { ...spec, idle, huge: hugeBurst, near: nearBurst };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => fmt(bytes / MB);
const outcomes = (o: Record<string, number>) =>
  Object.entries(o)
    .sort()
    .map(([k, v]) => `${v}× ${k}`)
    .join(', ');

interface StageProfile {
  bytes: number;
  stages: { stage: string; peakAboveStart: number; heldAfter: number }[];
}

export async function run(): Promise<BenchSection> {
  const loadBefore = loadavg().map((n) => n.toFixed(2));
  const huge = messageOf(HUGE_BYTES, 'Huge');
  const sides: Side[] = [];
  for (const spec of SIDES) sides.push(await measureSide(spec, huge));
  const dir = mkdtempSync(join(tmpdir(), 'mr-bench-memory-small-'));
  const server = await startServe(dir);
  let sends: Awaited<ReturnType<typeof smallSends>>;
  try {
    sends = await smallSends(server, SMALL_SENDS, SMALL_CONCURRENCY);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const profile = await runWorker<StageProfile>('memory-stages.ts', { bytes: NEAR_LIMIT_BYTES });
  const loadAfter = loadavg().map((n) => n.toFixed(2));

  const mark = (ok: boolean) => (ok ? '' : ' ✗');
  const row = (what: string, goal: string, cells: string[]) => `| ${what} | ${goal} | ${cells.join(' | ')} |`;
  const afterAbove = (side: Side, b: Burst) => b.settled - side.idle;
  const growth = sends.after - sends.before;
  const table = [
    `| measure | goal | ${sides.map((side) => side.label).join(' | ')} |`,
    `| --- | --- | ${sides.map(() => '---:').join(' | ')} |`,
    row(
      'idle RSS (MB)',
      '—',
      sides.map((side) => mb(side.idle)),
    ),
    row(
      `${CONCURRENT} × ${fmt(HUGE_BYTES / MB)} MB at once: peak RSS (MB)`,
      `< ${GOALS.peakMb}`,
      sides.map((side) => `${mb(side.huge.peak)}${mark(side.huge.peak < GOALS.peakMb * MB)}`),
    ),
    row(
      '… then RSS above idle, settled (at 5 s) (MB)',
      `≤ ${GOALS.afterAboveIdleMb}`,
      sides.map(
        (side) =>
          `${mb(afterAbove(side, side.huge))} (${mb(side.huge.at5s - side.idle)})${mark(afterAbove(side, side.huge) <= GOALS.afterAboveIdleMb * MB)}`,
      ),
    ),
    row(
      '… answers; seconds until the last',
      '413 at once',
      sides.map((side) => `${outcomes(side.huge.outcomes)}; ${fmt(side.huge.seconds, 1)} s`),
    ),
    row(
      `${CONCURRENT} at once near the limit (1 MiB under; before: the defaults' bodies): body (MB)`,
      '—',
      sides.map((side) => fmt(side.nearBytes / MB, 1)),
    ),
    row(
      '… peak RSS (MB)',
      `< ${GOALS.peakMb}`,
      sides.map((side) => `${mb(side.near.peak)}${mark(side.near.peak < GOALS.peakMb * MB)}`),
    ),
    row(
      '… then RSS above idle, settled (at 5 s) (MB)',
      `≤ ${GOALS.afterAboveIdleMb}`,
      sides.map(
        (side) =>
          `${mb(afterAbove(side, side.near))} (${mb(side.near.at5s - side.idle)})${mark(afterAbove(side, side.near) <= GOALS.afterAboveIdleMb * MB)}`,
      ),
    ),
    row(
      '… answers (a 503 retried after its Retry-After); seconds until all were sent',
      'all sent',
      sides.map((side) => `${outcomes(side.near.outcomes)}; ${fmt(side.near.seconds, 1)} s`),
    ),
  ];
  // The summary: the defaults (the first side), each measure with its goal.
  const defaults = sides[0]!;
  const answered = (o: Record<string, number>, ok: (status: string) => boolean) =>
    Object.entries(o).every(([status, n]) => n === 0 || ok(status));
  const allSent = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([status]) => /^2\d\d$/.test(status))
      .reduce((sum, [, n]) => sum + n, 0) === CONCURRENT && answered(o, (s) => /^(2\d\d|503)$/.test(s));
  const huge8 = `${CONCURRENT} × ${fmt(HUGE_BYTES / MB)} MB bodies at once`;
  const near8 = `${CONCURRENT} × ${fmt(defaults.nearBytes / MB, 1)} MB bodies (1 MiB under the limit) at once`;
  const summary: SummaryRow[] = [
    {
      measure: `Memory, serve (defaults): ${huge8}, peak RSS (MB)`,
      goal: `< ${GOALS.peakMb}`,
      now: mb(defaults.huge.peak),
      met: defaults.huge.peak < GOALS.peakMb * MB,
    },
    {
      measure: `Memory, serve (defaults): RSS above idle after ${huge8}, settled (MB)`,
      goal: `≤ ${GOALS.afterAboveIdleMb}`,
      now: `${mb(afterAbove(defaults, defaults.huge))} (at 5 s: ${mb(defaults.huge.at5s - defaults.idle)})`,
      met: afterAbove(defaults, defaults.huge) <= GOALS.afterAboveIdleMb * MB,
    },
    {
      measure: `Memory, serve (defaults): ${huge8}, answers`,
      goal: '413 at once',
      now: `${outcomes(defaults.huge.outcomes)}; ${fmt(defaults.huge.seconds, 1)} s`,
      met: answered(defaults.huge.outcomes, (s) => s === '413'),
    },
    {
      measure: `Memory, serve (defaults): ${near8}, peak RSS (MB)`,
      goal: `< ${GOALS.peakMb}`,
      now: mb(defaults.near.peak),
      met: defaults.near.peak < GOALS.peakMb * MB,
    },
    {
      measure: `Memory, serve (defaults): RSS above idle after ${near8}, settled (MB)`,
      goal: `≤ ${GOALS.afterAboveIdleMb}`,
      now: `${mb(afterAbove(defaults, defaults.near))} (at 5 s: ${mb(defaults.near.at5s - defaults.idle)})`,
      met: afterAbove(defaults, defaults.near) <= GOALS.afterAboveIdleMb * MB,
    },
    {
      measure: `Memory, serve (defaults): ${near8}, answers (a 503 retried after its Retry-After)`,
      goal: 'all sent',
      now: `${outcomes(defaults.near.outcomes)}; ${fmt(defaults.near.seconds, 1)} s`,
      met: allSent(defaults.near.outcomes),
    },
    {
      measure: `Memory, serve (defaults): RSS growth over ${fmt(SMALL_SENDS)} small sends, settled (MB)`,
      goal: `< ${GOALS.growthMb}`,
      now: `${mb(growth)} (${mb(sends.before)} → ${mb(sends.after)})`,
      met: growth < GOALS.growthMb * MB,
    },
  ];
  const stages = profile.stages.map(
    (stage) => `| ${stage.stage} | ${mb(stage.peakAboveStart)} | ${mb(stage.heldAfter)} |`,
  );
  return {
    title: 'Memory: mailroute serve under large bodies',
    markdown: [
      '`mailroute serve` (the real bin, a child process; one `local` entry in API mode writing its outbox to a',
      'temporary directory, so no cloud) measured from outside: VmRSS from /proc/<pid>/status, the peak as VmHWM',
      '(reset before each burst). After a burst the resident set is read every 250 ms until it stays within 2 MB',
      'for 2 s; "at 5 s" is what it was 5 s after the last answer. Each request is a real message (an attachment',
      'filling the body), sent without `Expect: 100-continue`. Servers side by side in one session: the defaults',
      '(48 MiB bodies, 64 MiB in flight); limits chosen for a 400 MB box (24 MiB bodies, 24 MiB in flight); the',
      'limits as they were (`http.maxBodyBytes` 60 MiB, read whole; `http.maxInflightBytes` 0, no budget; the same',
      `code otherwise). ✗: goal not met. Load average ${loadBefore.join(', ')} before, ${loadAfter.join(', ')} after.`,
      ...(QUICK ? ['QUICK run (MAILROUTE_BENCH_QUICK=1): fewer requests and sends.'] : []),
      '',
      ...table,
      '',
      `${fmt(SMALL_SENDS)} small sends, ${SMALL_CONCURRENCY} at a time over keep-alive connections, after 200 to warm`,
      `up (defaults): RSS ${mb(sends.before)} → ${mb(sends.after)} MB settled, growth **${mb(growth)} MB** (goal`,
      `< ${GOALS.growthMb})${mark(growth < GOALS.growthMb * MB)}; peak ${mb(sends.peak)} MB; ${outcomes(sends.outcomes)};`,
      `${fmt(SMALL_SENDS / sends.seconds)} sends/s.`,
      '',
      `Where one body of ${fmt(profile.bytes / MB, 1)} MB goes (bench/workers/memory-stages.ts: the steps of a send`,
      'run one by one in a process of their own, each keeping what the real code keeps at that point; MB above the',
      'start):',
      '',
      '| step | peak RSS while it ran | held once done (heap + external) |',
      '| --- | ---: | ---: |',
      ...stages,
      '',
      `Reading. The in-flight budget admits as many bodies as fit in it (one near-limit body at the defaults, the`,
      `others answered 503 and retried), so the peak is the idle resident set plus what that many sends take at`,
      `their worst: a send holds its body parsed, the attachment decoded and the MIME composed (${fmt(
        Math.max(...profile.stages.map((s) => s.peakAboveStart)) / profile.bytes,
        1,
      )}× the body at the worst step above), with the collector's slack on top. So the peak is set by the`,
      'configuration, not by the clients: about 5 to 8 times `http.maxInflightBytes`, plus the idle set; for a box of',
      '400 MB, the limits of the middle column.',
    ].join('\n'),
    summary,
  };
}
