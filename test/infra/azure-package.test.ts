import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upFrontBytes } from '../../infra/aws/zip.ts';
import { type AzurePackage, packageAzure } from '../../infra/azure/package.ts';

/**
 * What the app's cold start parses before its functions are registered: measured 120 KB (@azure/functions is 74 KB
 * of it). The mailer (zod, the configuration's schema), the providers, the Storage Queue SDK and the event intake
 * load with the first invocation that needs them (functions/README.md).
 */
const MAX_UP_FRONT_BYTES = 256 * 1024;

// Builds the function app as it is deployed (infra/azure/package.ts) and loads it in a clean Node process,
// outside the repository: it must need nothing but what the package holds.

let outDir: string;
let built: AzurePackage;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'mailroute-azure-package-'));
  built = await packageAzure({ outDir });
}, 60_000);
afterAll(() => rm(outDir, { recursive: true, force: true }));

describe('the Azure function app build', () => {
  it('has host.json and a package.json whose main is the bundle, and no dependencies to install', async () => {
    const manifest = JSON.parse(await readFile(join(built.appDir, 'package.json'), 'utf8'));
    expect(manifest).toEqual({
      name: 'mailroute-azure-functions',
      private: true,
      type: 'module',
      main: 'dist/index.mjs',
    });
    const source = await readFile(new URL('../../functions/azure/host.json', import.meta.url), 'utf8');
    expect(await readFile(join(built.appDir, 'host.json'), 'utf8')).toBe(source);
    const { stdout } = await promisify(execFile)('unzip', ['-Z1', built.zipFile!]);
    expect(stdout.split('\n')).toEqual(expect.arrayContaining(['host.json', 'package.json', 'dist/index.mjs']));
  });

  it('loads in a clean process outside the repository and registers its handlers', async () => {
    const script = `const m = await import(${JSON.stringify(join(built.appDir, 'dist/index.mjs'))}); console.log(JSON.stringify(Object.keys(m).sort()));`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual([
      'acsEvents',
      'httpApi',
      'sendQueuedMessage',
      'unsubscribeApi',
    ]);
    // Outside the host, @azure/functions says it skips each registration: one per function.
    for (const name of ['send-queue', 'http-send', 'http-healthz', 'http-events', 'http-unsubscribe', 'acs-events'])
      expect(stderr).toContain(`register function "${name}"`);
  });

  it('loads little before its first invocation: no zod, no SDK', () => {
    expect(upFrontBytes(join(built.appDir, 'dist'), 'index.mjs')).toBeLessThan(MAX_UP_FRONT_BYTES);
  });
});
