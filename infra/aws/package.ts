import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, where `serverless.yml` is. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const OSLS = join(REPO_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');

/** Credentials and profiles removed from osls's environment, so packaging provably never reaches an account. */
const AWS_IDENTITY_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
];

export interface PackageResult {
  /** Where the CloudFormation template and the function zips were written. */
  outDir: string;
  durationMs: number;
  /** osls's combined stdout and stderr. */
  output: string;
}

/**
 * Runs `osls package` offline: a throwaway HOME (v3 writes into ~/.serverless even with telemetry off), no AWS
 * credentials, telemetry off. `args` go to osls as they are; without a `sesIdentity` param, `example.com` is
 * used, which is fine for CI and wrong for a deployment.
 *
 * @example
 * const { outDir } = await packageAws(['--stage', 'ci', '--package', '/tmp/mailroute-package']);
 */
export async function packageAws(args: string[] = []): Promise<PackageResult> {
  const home = await mkdtemp(join(tmpdir(), 'mailroute-osls-home-'));
  // osls bundles each function into a directory of its own under the system's temporary directory and leaves it
  // there (about 13 MB a function, every packaging): pointed inside `home`, it goes with it.
  const temporary = join(home, 'tmp');
  await mkdir(temporary);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    TMPDIR: temporary,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  for (const name of AWS_IDENTITY_VARIABLES) delete env[name];
  const fullArgs = [...args];
  if (!fullArgs.some((a) => /^(--param=)?sesIdentity=/.test(a))) fullArgs.push('--param=sesIdentity=example.com');
  const outDir = packageDir(fullArgs);
  const started = performance.now();
  try {
    const { code, output } = await run(process.execPath, [OSLS, 'package', ...fullArgs], env);
    if (code !== 0) throw new Error(`osls package exited with ${code}:\n${output}`);
    return { outDir, durationMs: performance.now() - started, output };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function packageDir(args: string[]): string {
  const at = args.findIndex((a) => a === '--package' || a === '-p' || a.startsWith('--package='));
  if (at === -1) return join(REPO_ROOT, '.serverless');
  const flag = args[at]!;
  return flag.startsWith('--package=') ? flag.slice('--package='.length) : args[at + 1]!;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await packageAws(process.argv.slice(2));
  process.stdout.write(result.output);
  process.stdout.write(`\nPackaged into ${result.outDir} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
}
