import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip, upFrontBytes } from '../../infra/aws/zip.ts';
import { type GcpPackage, packageGcp, REPO_ROOT, writeZip } from '../../infra/gcp/package.ts';

// Builds the source zip Terraform uploads, then loads it as the Cloud Functions runtime would: the bundle's entry
// imported from a directory whose node_modules holds the Functions Framework (here: the repository's).

/** Measured 1.3 MB: every provider's SDK is in the zip, each in its own chunk, loaded only when configured. */
const MAX_ZIP_BYTES = 2 * 2 ** 20;
/**
 * What the entry parses before its functions are registered: measured 36 KB. The mailer (zod, the configuration's
 * schema), the providers, google-auth-library and the event intake load with the first invocation that needs them.
 */
const MAX_UP_FRONT_BYTES = 256 * 1024;

let dir: string;
let built: GcpPackage;

beforeAll(async () => {
  // Under the repository, so a bare `@google-cloud/functions-framework` import resolves to its node_modules.
  await mkdir(join(REPO_ROOT, 'dist'), { recursive: true });
  dir = await mkdtemp(join(REPO_ROOT, 'dist', 'gcp-package-test-'));
  built = await packageGcp(dir);
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('infra/gcp/package.ts', () => {
  it('writes a zip with the ESM entry, its chunks, and a package.json whose one dependency is the framework', async () => {
    const entries = readZip(await readFile(built.zip));
    const names = entries.map((e) => e.name);
    expect(names).toContain('index.mjs');
    expect(names).toContain('package.json');
    expect(names.every((n) => n === 'index.mjs' || n === 'package.json' || /^chunks\/[\w-]+\.mjs$/.test(n))).toBe(true);
    const framework = JSON.parse(
      await readFile(join(REPO_ROOT, 'node_modules/@google-cloud/functions-framework/package.json'), 'utf8'),
    );
    expect(
      JSON.parse(
        entries
          .find((e) => e.name === 'package.json')!
          .read()
          .toString(),
      ),
    ).toEqual({
      name: 'mailroute-gcp-functions',
      private: true,
      type: 'module',
      main: 'index.mjs',
      engines: { node: '22' },
      dependencies: { '@google-cloud/functions-framework': framework.version },
    });
    expect(built.bytes).toBeLessThan(MAX_ZIP_BYTES);
    // The framework is imported, not bundled: the runtime's copy is the registry the entry point is found in.
    const entry = entries
      .find((e) => e.name === 'index.mjs')!
      .read()
      .toString();
    expect(entry).toMatch(/from\s*"@google-cloud\/functions-framework"/);
    // Same files, same bytes (no timestamps): the object name is the zip's MD5, so an unchanged build redeploys nothing.
    const rezipped = writeZip(entries.map((e) => ({ name: e.name, data: e.read() })));
    expect(rezipped.equals(await readFile(built.zip))).toBe(true);
  });

  it('the unpacked zip registers mailrouteQueue (cloudevent), mailrouteHttp and mailrouteUnsubscribe (http) with the framework', async () => {
    const unpacked = join(dir, 'unpacked');
    for (const entry of readZip(await readFile(built.zip))) {
      await mkdir(dirname(join(unpacked, entry.name)), { recursive: true });
      await writeFile(join(unpacked, entry.name), entry.read());
    }
    const script = `
      await import('./index.mjs');
      const { getFunction } = await import('@google-cloud/functions-framework/testing');
      const names = ['mailrouteQueue', 'mailrouteHttp', 'mailrouteUnsubscribe'];
      console.log(JSON.stringify(names.map((name) => typeof getFunction(name))));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: unpacked,
      env: { ...process.env, MAILROUTE_CONFIG: '' },
    });
    expect(JSON.parse(stdout)).toEqual(['function', 'function', 'function']);
    expect(upFrontBytes(unpacked, 'index.mjs')).toBeLessThan(MAX_UP_FRONT_BYTES);
  });
});
