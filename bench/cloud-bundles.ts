import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packageAzure, REPO_ROOT } from '../infra/azure/package.ts';
import { packageGcp } from '../infra/gcp/package.ts';
import { bundleOciFunction } from '../infra/oci/bundle.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const exec = promisify(execFile);
const ROUNDS = 7;

/** Every file below a folder, with its size. */
function sizes(dir: string): { total: number; files: number } {
  let total = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += statSync(join(entry.parentPath, entry.name)).size;
    files += 1;
  }
  return { total, files };
}

/** Milliseconds to import a file in a fresh Node process (median of ROUNDS), with the environment it needs. */
async function coldImport(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t); process.exit(0);`;
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    times.push(Number(stdout.trim().split('\n').pop()));
  }
  return median(times);
}

/** Each cloud's bundled handler (esbuild, provider SDKs split into lazy chunks): its size and cold import time. */
export async function run(): Promise<BenchSection> {
  const work = mkdtempSync(join(tmpdir(), 'mr-bench-bundles-'));
  const config = JSON.stringify({ providers: [{ name: 'local', provider: 'local', mode: 'api' }] });
  try {
    const azure = await packageAzure({ outDir: join(work, 'azure'), zip: false });
    const gcp = await packageGcp(join(REPO_ROOT, 'dist', 'bench-gcp'));
    const ociDir = join(work, 'oci');
    await bundleOciFunction(ociDir);
    const rows = [
      {
        label: 'Azure Functions app (`functions/azure/index.ts`)',
        dir: join(azure.appDir, 'dist'),
        entry: join(azure.appDir, 'dist', 'index.mjs'),
        env: { MAILROUTE_CONFIG: config },
      },
      {
        label: 'Google Cloud Functions (`functions/gcp/index.ts`)',
        dir: join(REPO_ROOT, 'dist', 'bench-gcp', 'source'),
        entry: join(REPO_ROOT, 'dist', 'bench-gcp', 'source', 'index.mjs'),
        env: { MAILROUTE_CONFIG: config },
      },
      {
        label: 'OCI Functions (`functions/oci/func.ts`)',
        dir: ociDir,
        entry: join(ociDir, 'func.mjs'),
        env: { MAILROUTE_CONFIG: config, FN_FORMAT: 'http-stream', FN_LISTENER: `unix:${join(work, 'fn.sock')}` },
      },
    ];
    const lines: string[] = [];
    for (const row of rows) {
      const all = sizes(row.dir);
      const entry = statSync(row.entry).size;
      const ms = await coldImport(row.entry, row.env);
      lines.push(
        `| ${row.label} | ${fmt(entry / 1024)} KB | ${fmt(all.total / 1024)} KB in ${all.files} files | ${fmt(ms, 1)} ms |`,
      );
    }
    void gcp;
    return {
      title: 'Azure, Google Cloud and OCI handlers: bundle size and cold import',
      markdown: [
        `Each built with its own packaging script (esbuild, ESM, minified; provider adapters and their SDKs in chunks`,
        `loaded only when the configuration names them). Cold import: median of ${ROUNDS} fresh Node processes importing the`,
        'entry (which registers the functions), with a local-provider configuration.',
        '',
        '| handler | entry file | whole bundle | cold import |',
        '| --- | ---: | ---: | ---: |',
        ...lines,
      ].join('\n'),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(join(REPO_ROOT, 'dist', 'bench-gcp'), { recursive: true, force: true });
  }
}
