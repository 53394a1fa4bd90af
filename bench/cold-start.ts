import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { type BuildOptions, build } from 'esbuild';
import { fmt, median } from './lib.ts';

// Cold starts of bundled handlers against their cloud's bare SDK, bundled the same way: the helpers aws-bundle.ts
// and cloud-bundles.ts share. Not a benchmark of its own (run.ts does not list it).

const execFileAsync = promisify(execFile);

/** The goal: a handler's cold import costs at most this many times its cloud's bare SDK's (each minus `node`). */
export const COLD_IMPORT_GOAL = 1.2;

/** One thing to import in a fresh Node process. */
export interface ColdSubject {
  label: string;
  /** A file URL (or a package name resolved from `cwd`). */
  specifier: string;
  /** The process's environment (besides the bench's own); a function for one of its own per process. */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  /**
   * Imported before the clock starts: what the platform has loaded before it loads the function (the Functions
   * Framework on Google Cloud, which imports the function's entry itself).
   */
  preload?: string;
  /**
   * The first send, as the body of an async function of `m` (the imported module) that throws unless the send
   * succeeded; timed with the import (`import + first send`).
   */
  send?: string;
}

export interface ColdTimes {
  /** Whole process (spawn to exit), import only. */
  processMs: number;
  /** `import()` alone, measured inside the process. */
  importMs: number;
  /** Whole process with the first send. */
  sendProcessMs?: number;
  /** `import()` and the first send, inside the process. */
  importSendMs?: number;
  /** CPU time (user and system) of the whole process, import only: less sensitive than wall time to a busy machine. */
  cpuMs: number;
  /** CPU time of the whole process with the first send. */
  sendCpuMs?: number;
}

// The child: the module given in MR_COLD_SPEC imported (after MR_COLD_PRELOAD), then MR_COLD_SEND run; it exits
// at once (a provider's keep-alive socket, an Fn listener, would keep it up).
const CHILD = [
  'const { MR_COLD_SPEC: spec, MR_COLD_PRELOAD: preload, MR_COLD_SEND: send } = process.env;',
  'if (preload) await import(preload);',
  'const t0 = performance.now();',
  'const m = spec ? await import(spec) : undefined;',
  'const t1 = performance.now();',
  'if (send) await new (async () => {}).constructor("m", send)(m);',
  'const t2 = performance.now();',
  'const { user, system } = process.cpuUsage();',
  'const line = JSON.stringify({ importMs: t1 - t0, totalMs: t2 - t0, cpuMs: (user + system) / 1000 });',
  'process.stdout.write(line + "\\n", () => process.exit(0));',
].join('\n');

async function once(
  subject: Partial<Pick<ColdSubject, 'specifier' | 'env' | 'preload' | 'send'>> | undefined,
  withSend: boolean,
  cwd: string,
): Promise<{ processMs: number; importMs: number; totalMs: number; cpuMs: number }> {
  const given = typeof subject?.env === 'function' ? subject.env() : subject?.env;
  const env: NodeJS.ProcessEnv = { ...process.env, ...given };
  for (const name of ['MR_COLD_SPEC', 'MR_COLD_PRELOAD', 'MR_COLD_SEND']) delete env[name];
  if (subject?.specifier) env.MR_COLD_SPEC = subject.specifier;
  if (subject?.preload) env.MR_COLD_PRELOAD = subject.preload;
  if (withSend && subject?.send) env.MR_COLD_SEND = subject.send;
  const started = performance.now();
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd,
    env,
    timeout: 60_000,
  });
  const processMs = performance.now() - started;
  const { importMs, totalMs, cpuMs } = JSON.parse(stdout.trim().split('\n').pop()!);
  return { processMs, importMs, totalMs, cpuMs };
}

/**
 * Every subject's cold start in fresh Node processes, the subjects taking turns round after round (so drift on
 * the machine hits them alike), with an empty `node` in every round; medians. A subject with `send` is also run
 * with its first send. `preload` is what the platform loads before any function (the empty process loads it too,
 * so that "less the empty process" leaves the function's own cost).
 */
export async function coldStarts(
  subjects: ColdSubject[],
  rounds: number,
  cwd: string,
  preload?: string,
): Promise<{ emptyMs: number; emptyCpuMs: number; times: ColdTimes[] }> {
  for (const s of subjects) await once(s, true, cwd); // the file cache warm, and each send checked once
  const empty = { process: [] as number[], cpu: [] as number[] };
  const series = () => ({ process: [] as number[], import: [] as number[], cpu: [] as number[] });
  const runs = subjects.map(() => ({ plain: series(), sent: series() }));
  for (let round = 0; round < rounds; round++) {
    const nothing = await once(preload ? { preload } : undefined, false, cwd);
    empty.process.push(nothing.processMs);
    empty.cpu.push(nothing.cpuMs);
    for (const [i, s] of subjects.entries()) {
      for (const withSend of s.send ? [false, true] : [false]) {
        const run = await once(s, withSend, cwd);
        const into = withSend ? runs[i]!.sent : runs[i]!.plain;
        into.process.push(run.processMs);
        into.import.push(withSend ? run.totalMs : run.importMs);
        into.cpu.push(run.cpuMs);
      }
    }
  }
  return {
    emptyMs: median(empty.process),
    emptyCpuMs: median(empty.cpu),
    times: runs.map(({ plain, sent }) => ({
      processMs: median(plain.process),
      importMs: median(plain.import),
      cpuMs: median(plain.cpu),
      ...(sent.process.length
        ? { sendProcessMs: median(sent.process), importSendMs: median(sent.import), sendCpuMs: median(sent.cpu) }
        : {}),
    })),
  };
}

/** `a / b`, both less the empty process. */
export const ratioOver = (a: number, b: number, emptyMs: number) => (a - emptyMs) / (b - emptyMs);

export const ratio = (n: number) => `${fmt(n, 2)}×`;
export const verdict = (n: number, goal = COLD_IMPORT_GOAL) => (n <= goal ? `${ratio(n)} ✓` : `**${ratio(n)}** ✗`);

/** A package's client bundled alone: esbuild, ESM, minified, with the handlers' `createRequire` banner. */
export async function bundleAlone(
  contents: string,
  outfile: string,
  resolveDir: string,
  options: BuildOptions = {},
): Promise<number> {
  const result = await build({
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    banner: {
      js: "import { createRequire as __mailrouteCreateRequire } from 'node:module'; const require = __mailrouteCreateRequire(import.meta.url);",
    },
    ...options,
    splitting: false,
    stdin: { contents, resolveDir, loader: 'js' },
    outfile,
    metafile: true,
    logLevel: 'error',
  });
  return Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
}

/**
 * A stand-in for the SES v2 API on 127.0.0.1: `SendEmail` answers a message id, anything else 404. It keeps the
 * first send local and equal for mailroute and the bare SDK.
 */
export async function sesStub(): Promise<{ endpoint: string; sends: () => number; close: () => Promise<void> }> {
  let sends = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url?.startsWith('/v2/email/outbound-emails')) {
        sends++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ MessageId: `stub-${sends}` }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'NotFoundException' });
      res.end(JSON.stringify({ message: 'not in the stub' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    sends: () => sends,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
