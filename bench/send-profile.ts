import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BenchSection, fmt, median, type SummaryRow } from './lib.ts';
import { attributeProfile, type Profile } from './workers/profile-report.ts';

/**
 * Where the CPU of `Mailer.send()` goes, against the raw SDK call it wraps: the API-mode sides of
 * bench/workers/profile-send.ts (the raw SDK call with its input built per message, and `Mailer.send()` with the
 * default configuration), each in its own process under `node --cpu-prof`, rounds alternated. The samples of the
 * measured sends are charged to the nearest frame that is the repository's code or a package's
 * (bench/workers/profile-report.ts): what the SDK and Node do on both sides, and each step mailroute adds. This is
 * the profile behind the per-message ratios of the API-mode sections: what separates them from 1 on loopback.
 */
const PROVIDERS = [
  { id: 'ses', label: 'SES SendEmail (Simple content)' },
  { id: 'acs', label: 'ACS beginSend' },
  { id: 'oci', label: 'OCI submitEmail' },
  { id: 'gmail', label: 'Gmail messages.send (media upload, 2 KiB attachment)' },
] as const;
const SIDES = ['raw', 'send'] as const;
const ROUNDS = Number(process.env.BENCH_PROFILE_ROUNDS ?? 3);
const COUNT = Number(process.env.BENCH_PROFILE_COUNT ?? 3000);
const DRIVER = new URL('./workers/profile-send.ts', import.meta.url).pathname;
const exec = promisify(execFile);

/** The steps a sample is charged to, as the table shows them: mailroute's own, and the rest grouped. */
function group(key: string): string {
  if (key === '(idle)' || key === '(program)') return 'idle';
  if (key === '(garbage collector)') return 'garbage collector';
  if (key.startsWith('package ') || key.startsWith('(node internals'))
    return 'SDK, HTTP, signing, Node (packages and internals)';
  if (key.startsWith('driver')) return 'the driver (building the raw input, the loop)';
  return key;
}

interface Sample {
  cpuMs: number;
  rate: number;
  /** ms per message by group. */
  groups: Map<string, number>;
}

async function profileOnce(provider: string, side: string): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'mr-bench-prof-'));
  try {
    const { stdout } = await exec(
      process.execPath,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`, DRIVER, JSON.stringify({ provider, side, count: COUNT })],
      {
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as {
      cpuMsPerMessage: number;
      rate: number;
      window: { startUs: number; endUs: number };
    };
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    const profile = JSON.parse(await readFile(join(dir, file!), 'utf8')) as Profile;
    const { attributed } = attributeProfile(profile, out.window);
    const groups = new Map<string, number>();
    for (const [key, us] of attributed) groups.set(group(key), (groups.get(group(key)) ?? 0) + us / 1000 / COUNT);
    // The profiler samples on a wall-clock interval: on a loaded machine, time the thread spent waiting for a core
    // is charged to whatever it was running. The shares are right; their sum is not CPU. Scaled so that the rows
    // (idle apart) add up to the process's CPU time per message, measured beside.
    const sampled = [...groups].filter(([k]) => k !== 'idle').reduce((sum, [, ms]) => sum + ms, 0);
    const scale = sampled > 0 ? out.cpuMsPerMessage / sampled : 0;
    for (const [k, ms] of groups) groups.set(k, ms * scale);
    return { cpuMs: out.cpuMsPerMessage, rate: out.rate, groups };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const NOT_MAILROUTE = new Set([
  'idle',
  'garbage collector',
  'SDK, HTTP, signing, Node (packages and internals)',
  'the driver (building the raw input, the loop)',
]);

export async function run(): Promise<BenchSection> {
  const load0 = loadavg();
  const lines: string[] = [];
  const summary: SummaryRow[] = [];
  const notes: string[] = [];
  for (const p of PROVIDERS) {
    process.stderr.write(`bench: send-profile, ${p.id}...\n`);
    const samples: Record<string, Sample[]> = { raw: [], send: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [...SIDES].reverse() : SIDES;
      for (const side of order) samples[side]!.push(await profileOnce(p.id, side));
    }
    const med = (side: string, key: string) => median(samples[side]!.map((s) => s.groups.get(key) ?? 0));
    const keys = new Set<string>();
    for (const side of SIDES) for (const s of samples[side]!) for (const k of s.groups.keys()) keys.add(k);
    const rows = [...keys]
      .filter((k) => k !== 'idle')
      .map((k) => ({ k, raw: med('raw', k), send: med('send', k) }))
      .sort((a, b) => b.send - b.raw - (a.send - a.raw));
    const cpuRaw = median(samples.raw!.map((s) => s.cpuMs));
    const cpuSend = median(samples.send!.map((s) => s.cpuMs));
    const own = rows.filter((r) => !NOT_MAILROUTE.has(r.k)).reduce((sum, r) => sum + r.send, 0);
    const sdkRaw = rows.find((r) => r.k.startsWith('SDK'))?.raw ?? 0;
    const sdkSend = rows.find((r) => r.k.startsWith('SDK'))?.send ?? 0;
    lines.push(
      `### ${p.label}`,
      '',
      `Process CPU per message (medians of ${ROUNDS} rounds of ${fmt(COUNT)}): raw **${fmt(cpuRaw, 3)} ms**, \`Mailer.send()\` **${fmt(cpuSend, 3)} ms**: ratio ${fmt(cpuRaw / cpuSend, 2)}. msg/s: ${fmt(median(samples.raw!.map((s) => s.rate)))} raw, ${fmt(median(samples.send!.map((s) => s.rate)))} send().`,
      '',
      '| charged to | raw SDK (ms/msg) | `Mailer.send()` (ms/msg) | added (ms/msg) |',
      '| --- | ---: | ---: | ---: |',
      ...rows.map(
        (r) =>
          `| ${NOT_MAILROUTE.has(r.k) ? r.k : `mailroute: ${r.k}`} | ${fmt(r.raw, 4)} | ${fmt(r.send, 4)} | ${fmt(r.send - r.raw, 4)} |`,
      ),
      '',
    );
    notes.push(
      `${p.id.toUpperCase()}: mailroute's own code ${fmt(own, 3)} ms a message, the SDK and Node ${fmt(sdkRaw, 3)} → ${fmt(sdkSend, 3)} ms`,
    );
    summary.push({
      measure: `${p.label}: mailroute's own CPU per message in \`Mailer.send()\` (profile; the raw SDK call's CPU beside)`,
      goal: 'none set (reported)',
      now: `${fmt(own, 3)} ms (raw call ${fmt(cpuRaw, 3)} ms; CPU ratio ${fmt(cpuRaw / cpuSend, 2)})`,
    });
  }
  const load1 = loadavg();
  return {
    title: "Profile: where send()'s CPU goes, against the raw SDK call",
    markdown: [
      `Each side in its own process under \`node --cpu-prof\` (bench/workers/profile-send.ts: the raw SDK call with its`,
      `input built per message, and \`Mailer.send()\` with the default configuration: validation, preparation,`,
      `idempotency by payload, the suppression screen and the event correlation on the in-memory store, health and`,
      `limits), 16 in flight against the provider's emulator in a child process (its CPU is not in these figures),`,
      `${ROUNDS} rounds of ${fmt(COUNT)} after 300 warm-up sends, sides alternated. Each sample of the measured sends is`,
      `charged to the nearest frame on its stack that is the repository's code (by step) or a package's (Node's`,
      `internals and builtins to whoever called them; zod and cockatiel to mailroute, which calls them); each row is its`,
      `share of the samples times the process's CPU time per message (the profiler samples by wall clock, so on a`,
      `loaded machine the raw sample times include waits for a core); medians per row.`,
      `Rows are sorted by what send() adds. Load average ${load0.map((l) => fmt(l, 2)).join(', ')} before, ${load1.map((l) => fmt(l, 2)).join(', ')} after, on 2 cores.`,
      '',
      ...lines,
      '**Reading.** ' +
        notes.join('; ') +
        '. On loopback the emulator answers at once, so a send is CPU and nothing else, and the ratio of rates cannot ' +
        'exceed raw CPU / (raw CPU + what send() adds). What mailroute adds per message is a constant of a few tenths ' +
        'of a millisecond: the checks every message gets (the schema and the address parser), the payload hash and ' +
        'the correlation record behind exactly-once and delivery events, the routing and health bookkeeping. The SDK ' +
        "and Node rows move too: the same process runs both, and send()'s allocations make the collector run more " +
        'often. With a real round trip (tens of ms) that constant is what separates send() from the raw call: see ' +
        'the +30 ms rows of the API-mode sections.',
    ].join('\n'),
    summary,
  };
}
