import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type BuildOptions, build } from 'esbuild';
import { parse } from 'yaml';
import { packageAws, REPO_ROOT } from '../infra/aws/package.ts';
import { readZip, staticImportClosure } from '../infra/aws/zip.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const execFileAsync = promisify(execFile);
const ROUNDS = 10;
/** serverless-esbuild's own options, which esbuild would reject. */
const PLUGIN_ONLY_OPTIONS = [
  'exclude',
  'outputFileExtension',
  'packager',
  'concurrency',
  'zipConcurrency',
  'nativeZip',
];

// At import only: no configuration is fetched and no network call made, whatever the handler does at init.
const childEnv: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench-secret',
  MAILROUTE_CONFIG: JSON.stringify({ providers: [{ name: 'ses', provider: 'ses', mode: 'api', region: 'eu-west-1' }] }),
  MAILROUTE_CONFIG_SSM: '',
};

interface Subject {
  label: string;
  /** What `import()` is given in a fresh process: a file URL or a package name resolved from the repository. */
  specifier: string;
  bytesLoaded: number;
  shipped: string;
}

/** Milliseconds from just before `import(specifier)` to its settling, in a new Node process. */
async function coldImportMs(specifier: string): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t);`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: childEnv,
  });
  return Number(stdout.trim().split('\n').pop());
}

/** The packaged queue function, unzipped: its entry, what it loads up front, and the zip's size. */
async function packagedQueueHandler(work: string): Promise<{ subject: Subject; zipBytes: number; packageMs: number }> {
  const out = join(work, 'package');
  const { durationMs } = await packageAws(['--package', out]);
  const zipPath = join(out, 'queue.zip');
  const entries = readZip(readFileSync(zipPath));
  const files = new Map<string, string>();
  for (const entry of entries) {
    const data = entry.read();
    mkdirSync(dirname(join(work, 'queue', entry.name)), { recursive: true });
    writeFileSync(join(work, 'queue', entry.name), data);
    if (entry.name.endsWith('.mjs')) files.set(entry.name, data.toString('utf8'));
  }
  const loaded = staticImportClosure(files, 'functions/aws/queue.mjs');
  const shipped = entries.reduce((sum, e) => sum + e.size, 0);
  return {
    zipBytes: statSync(zipPath).size,
    packageMs: durationMs,
    subject: {
      label: 'queue handler, packaged (`queue.zip`)',
      specifier: pathToFileURL(join(work, 'queue', 'functions/aws/queue.mjs')).href,
      bytesLoaded: loaded.reduce((sum, f) => sum + Buffer.byteLength(files.get(f)!), 0),
      shipped: `${kb(shipped)} in ${entries.length} files`,
    },
  };
}

/** `@aws-sdk/client-sesv2` (client and SendEmailCommand) bundled alone with serverless.yml's esbuild settings. */
async function bundledSesClient(work: string): Promise<Subject> {
  const settings = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8')).custom.esbuild;
  const options: BuildOptions = Object.fromEntries(
    Object.entries(settings as Record<string, unknown>).filter(([k]) => !PLUGIN_ONLY_OPTIONS.includes(k)),
  );
  const outfile = join(work, 'sesv2', 'index.mjs');
  await build({
    ...options,
    splitting: false,
    stdin: {
      contents: "export { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';",
      resolveDir: REPO_ROOT,
      loader: 'js',
    },
    outfile,
    logLevel: 'error',
  });
  const bytes = statSync(outfile).size;
  return {
    label: '`@aws-sdk/client-sesv2` alone, bundled the same way',
    specifier: pathToFileURL(outfile).href,
    bytesLoaded: bytes,
    shipped: kb(bytes),
  };
}

function installedSesClient(): Subject {
  return {
    label: '`@aws-sdk/client-sesv2` alone, from node_modules',
    specifier: '@aws-sdk/client-sesv2',
    bytesLoaded: Number.NaN,
    shipped: '(not bundled)',
  };
}

const kb = (bytes: number) => `${fmt(bytes / 1024)} KB`;

/**
 * The bundled queue function's size and cold import time against importing the SES v2 client alone: medians
 * over fresh Node processes, the subjects taking turns so drift on the machine hits them alike.
 */
export async function run(): Promise<BenchSection> {
  const work = mkdtempSync(join(tmpdir(), 'mailroute-bench-aws-'));
  try {
    const queue = await packagedQueueHandler(work);
    const subjects = [queue.subject, await bundledSesClient(work), installedSesClient()];
    for (const s of subjects) await coldImportMs(s.specifier); // warm the file cache
    const times: number[][] = subjects.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, s] of subjects.entries()) times[i]!.push(await coldImportMs(s.specifier));
    }
    const rows = subjects.map((s, i) => {
      const loaded = Number.isNaN(s.bytesLoaded) ? '–' : kb(s.bytesLoaded);
      return `| ${s.label} | ${s.shipped} | ${loaded} | ${fmt(median(times[i]!), 1)} |`;
    });
    return {
      title: 'AWS Lambda bundle: size and cold import',
      markdown: [
        `\`osls package\` (offline, serverless-esbuild, ESM, minified, chunks split at \`import()\`) took ${fmt(queue.packageMs / 1000, 1)} s; \`queue.zip\` is ${kb(queue.zipBytes)}.`,
        '"Loaded up front" is the entry plus every chunk it imports statically: what a cold start parses before the',
        'handler runs. The Azure, Gmail and OCI adapters and their SDKs ship in the zip as chunks loaded only when the',
        `routing configuration names them. Import times: median of ${ROUNDS} fresh \`node\` processes each.`,
        '',
        '| Subject | Shipped (unzipped) | Loaded up front | Cold import (ms) |',
        '|---|---:|---:|---:|',
        ...rows,
      ].join('\n'),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
