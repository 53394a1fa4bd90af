import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listOutbox } from '../../providers/local/outbox.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The ```ts block between `<!-- readme-snippet: NAME -->` and `<!-- /readme-snippet -->` in README.md. */
function snippet(name: string): string {
  const start = readme.indexOf(`<!-- readme-snippet: ${name} -->`);
  const end = readme.indexOf('<!-- /readme-snippet -->', start);
  if (start < 0 || end < 0) throw new Error(`README.md has no <!-- readme-snippet: ${name} --> … markers`);
  const code = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(start, end))?.[1];
  if (!code) throw new Error(`README.md's ${name} snippet has no \`\`\`ts block`);
  return code;
}

describe("README's Sending from code", () => {
  it('runs as written from a clone, without a build, on the embedded default', async () => {
    const code = snippet('sending-from-code');
    // A clone's root, as the snippet expects it (it imports ./index.ts): the sources, and no dist/ to lean on.
    const clone = mkdtempSync(join(tmpdir(), 'mr-readme-'));
    writeFileSync(join(clone, 'index.ts'), `export * from ${JSON.stringify(join(root, 'index.ts'))};\n`);
    writeFileSync(join(clone, 'send.ts'), code);
    // No configuration and no MAILROUTE_* variable: the embedded default (the local capture inbox).
    const { stderr } = await run(process.execPath, ['send.ts'], {
      cwd: clone,
      env: { PATH: process.env.PATH ?? '', HOME: clone },
    });
    expect(stderr).toBe('');
    const stored = await listOutbox(join(clone, '.mailroute', 'outbox'));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ subject: 'Your order' });
    expect(stored[0]!.envelope.to.sort()).toEqual(['bob@example.org', 'jane@example.com']);
  });
});
