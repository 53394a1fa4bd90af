import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Every module `file` imports, followed through relative imports: the files and the packages it names. */
function moduleGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    // TypeScript's own scanner: static imports, re-exports and lazy `import()` (a provider's SDK), comments skipped.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const specifiers = importedFiles.map((f) => f.fileName);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

const TEST_RUNNERS = /^(vitest|@vitest\/.*|jest|@jest\/.*|expect|mocha|chai|node:test)$/;

describe('mailroute/testing needs no test runner', () => {
  it('imports neither vitest nor jest (nor any runner), anywhere in its module graph', () => {
    const { files, packages } = moduleGraph(join(root, 'testing/index.ts'));
    expect([...files].some((f) => f.endsWith('/core/mailer.ts'))).toBe(true);
    expect([...files].filter((f) => f.includes('/test/'))).toEqual([]);
    expect([...packages].filter((p) => TEST_RUNNERS.test(p))).toEqual([]);
    // What it does name are the package's own dependencies (and Node's modules), nothing a test project lacks.
    const dependencies = new Set(Object.keys(packageJson.dependencies));
    expect([...packages].filter((p) => !p.startsWith('node:') && !dependencies.has(p))).toEqual([]);
  });
});

describe('the "./testing" export of the built package', () => {
  // Built beside node_modules (where the dependencies resolve from), not into dist/: `npm run build` with another outDir.
  const cache = join(root, 'node_modules', '.cache');
  let work: string;
  let consumer: string;

  beforeAll(() => {
    mkdirSync(cache, { recursive: true });
    work = mkdtempSync(join(cache, 'mailroute-testing-'));
    const pkg = join(work, 'pkg');
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    // Type errors elsewhere in the tree do not stop tsc from emitting; the files this test needs are checked below.
    spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], {
      cwd: root,
      encoding: 'utf8',
    });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify(packageJson));
    consumer = join(work, 'consumer');
    mkdirSync(join(consumer, 'node_modules'), { recursive: true });
    symlinkSync(pkg, join(consumer, 'node_modules', 'mailroute'), 'dir');
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is declared in package.json and built by tsconfig.build.json into a published folder', () => {
    expect(packageJson.exports['./testing']).toEqual({
      types: './dist/testing/index.d.ts',
      default: './dist/testing/index.js',
    });
    expect(packageJson.files).toContain('dist');
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
    expect(build.include).toContain('testing');
  });

  it('loads as `mailroute/testing` in a plain Node process: fails over with the errors of `mailroute`, loads no runner', () => {
    const script = join(consumer, 'use.mjs');
    writeFileSync(
      script,
      `import { registerHooks } from 'node:module';
const resolved = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); resolved.push(r.url); return r; } });
const { createTestMailer } = await import('mailroute/testing');
const { ProviderUnavailableError } = await import('mailroute');
const { mailer, outbox } = createTestMailer({
  providers: [{ name: 'primary' }, { name: 'secondary' }],
  routes: [{ name: 'main', providers: ['primary', 'secondary'] }],
  defaultRoute: 'main',
});
outbox.entry('primary').failNext(1, ProviderUnavailableError);
const result = await mailer.send({ from: 'app@example.com', to: 'bob@example.org', subject: 'Hi', text: 'Hello' });
outbox.assertSent({ to: 'bob@example.org', entry: 'secondary', count: 1 });
const sameClass = outbox.entry('primary').attempts[0].error instanceof ProviderUnavailableError;
let failure;
try { outbox.assertCount(2); } catch (error) { failure = { name: error.name, message: error.message }; }
console.log(JSON.stringify({ name: result.name, attempts: result.attempts.map((a) => a.name), sameClass, failure, resolved }));
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [script], { cwd: consumer, encoding: 'utf8' }));
    expect(out).toMatchObject({
      name: 'secondary',
      attempts: ['primary', 'secondary'],
      sameClass: true,
      failure: {
        name: 'AssertionError',
        message: expect.stringMatching(/^Expected 2 messages to be sent, but 1 was:/),
      },
    });
    const urls: string[] = out.resolved;
    expect(urls).toContain(`file://${join(work, 'pkg/dist/testing/index.js')}`);
    expect(urls.filter((u) => /\/node_modules\/(vitest|@vitest|jest|@jest|expect)\//.test(u))).toEqual([]);
    // The recording entries replace the adapters: no provider SDK is loaded.
    expect(urls.filter((u) => /\/node_modules\/(@aws-sdk|@azure|@googleapis|oci-)/.test(u))).toEqual([]);
  });

  it("loads with require() too (Node 22's require of an ES module), for a CommonJS test file", () => {
    const script = join(consumer, 'use.cjs');
    writeFileSync(
      script,
      `const { createTestMailer } = require('mailroute/testing');
const { outbox } = createTestMailer();
console.log(JSON.stringify({ entries: outbox.entry('test').name, sent: outbox.messages.length }));
`,
    );
    const out = execFileSync(process.execPath, [script], { cwd: consumer, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ entries: 'test', sent: 0 });
  });

  it('has types a TypeScript project resolves through the export', () => {
    writeFileSync(
      join(consumer, 'check.ts'),
      `import { ThrottledError } from 'mailroute';
import { createTestMailer, type SentMessage } from 'mailroute/testing';
const { mailer, outbox } = createTestMailer({ providers: [{ name: 'a' }] });
outbox.entry('a').failNext(1, ThrottledError, { retryAfterMs: 5 });
export const last: SentMessage | undefined = outbox.last();
export const sent: Promise<unknown> = mailer.send({ from: 'a@example.com', to: 'b@example.org', subject: 'x', text: 'y' });
// @ts-expect-error: not a fault code
outbox.failNext(1, 'DOWN');
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['check.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', consumer], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(tsc.stdout).toBe('');
    expect(tsc.status).toBe(0);
  });
});
