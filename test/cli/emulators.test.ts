import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAllEmulators } from '../../cli/emulators.ts';
import { loadConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { createAdapter } from '../../providers/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'mr-emulators-'));
const lines: string[] = [];
let stop: () => Promise<void>;
let mailer: Mailer;

/** Reads `NAME='value'` lines (values may span lines) as a shell's `.` would. */
function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of readFileSync(path, 'utf8').matchAll(/^([A-Z_]+)='([^']*)'$/gms)) env[match[1]!] = match[2]!;
  return env;
}

beforeAll(async () => {
  stop = await startAllEmulators(dir, (l) => lines.push(l));
  Object.assign(process.env, readEnvFile(join(dir, 'emulators.env')));
  mailer = new Mailer(loadConfig({ file: join(dir, 'mailroute.config.yaml') }).config, createAdapter);
});
afterAll(async () => {
  await mailer.close();
  await stop();
});

describe('mailroute emulators', () => {
  it('prints every emulator and writes a configuration that sends through each API adapter', async () => {
    expect(lines.join('\n')).toMatch(/ACS Email: http:\/\/127\.0\.0\.1:\d+/);
    for (const provider of ['ses-api', 'acs-api', 'gmail-api', 'oci-api']) {
      const result = await mailer.send(
        { from: 'sender@example.com', to: 'b@example.com', subject: `via ${provider}`, text: 'Hello' },
        { provider },
      );
      expect(result, provider).toMatchObject({ name: provider, accepted: ['b@example.com'] });
    }
  });
});
