import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAllEmulators } from '../../cli/emulators.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/mailroute.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'mr-connect-emulators-'));
const envFile = join(dir, 'emulators.env');
const configFile = join(dir, 'mailroute.config.yaml');
let stop: () => Promise<void>;

/** What a user's shell has after `set -a; . emulators.env; set +a`, the line `mailroute emulators` prints. */
async function sourced(base: Record<string, string>, file = envFile): Promise<Record<string, string>> {
  const { stdout } = await run('bash', ['-c', `set -a; . '${file}'; set +a; env -0`], { env: base });
  return Object.fromEntries(
    stdout
      .split('\0')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

beforeAll(async () => {
  // As `mailroute emulators` does: every emulator, their credentials and a configuration pointing at them.
  stop = await startAllEmulators(dir, () => {});
});
afterAll(() => stop());

describe('config check --connect on the configuration `mailroute emulators` writes', () => {
  it('answers ok: true for every entry, and nothing on stderr', async () => {
    const env = await sourced({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir });
    const { stdout, stderr } = await run(
      process.execPath,
      [bin, 'config', 'check', '--config', configFile, '--connect'],
      {
        env,
        cwd: dir,
      },
    ).catch((error: { stdout: string; stderr: string }) => error);
    const report = JSON.parse(stdout);
    expect(report.connect, JSON.stringify(report.connect, null, 2)).toEqual([
      { name: 'ses-api', provider: 'ses', mode: 'api', ok: true },
      { name: 'acs-api', provider: 'azure', mode: 'api', ok: true },
      { name: 'gmail-api', provider: 'gmail', mode: 'api', ok: true },
      { name: 'oci-api', provider: 'oci', mode: 'api', ok: true },
    ]);
    expect(report.ok).toBe(true);
    expect(stderr).toBe('');
  });
});

describe('the .env `mailroute emulators` writes', () => {
  // Prefixes of the variables the cloud SDKs and CLIs read (credentials, regions, endpoints, emulator hosts).
  const READ_BY_SDKS =
    /^(AWS|AMAZON|AZURE|AZURITE|MSI|IDENTITY|IMDS|GOOGLE|GCLOUD|GCP|CLOUDSDK|FIREBASE|PUBSUB|STORAGE|OCI|ORACLE|ACS|GMAIL|SES|SQS)_/;

  it('sets only MAILROUTE_EMU_* variables, none that an SDK reads', async () => {
    // The names a shell actually sets when it sources the file (values span lines: reading the text would guess).
    const base = { PATH: process.env.PATH ?? '' };
    const before = new Set(Object.keys(await sourced(base, '/dev/null')));
    const names = Object.keys(await sourced(base)).filter((name) => !before.has(name));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(name).toMatch(/^MAILROUTE_EMU_/);
      expect(name).not.toMatch(READ_BY_SDKS);
    }
    // The configuration names exactly those variables.
    const refs = [...readFileSync(configFile, 'utf8').matchAll(/\{ env: ([A-Za-z0-9_]+) \}/g)].map((m) => m[1]!);
    expect(new Set(refs)).toEqual(new Set(names));
  });

  it("leaves a user's real credentials as they were when sourced", async () => {
    const real = {
      AWS_ACCESS_KEY_ID: 'AKIAREALUSERKEY',
      AWS_SECRET_ACCESS_KEY: 'real-secret',
      AZURE_CLIENT_SECRET: 'real-azure-secret',
      GOOGLE_APPLICATION_CREDENTIALS: '/home/me/real.json',
      OCI_CLI_KEY_FILE: '/home/me/.oci/real.pem',
    };
    const env = await sourced({ PATH: process.env.PATH ?? '', ...real });
    expect(env).toMatchObject(real);
    expect(Object.keys(env).filter((k) => k.startsWith('MAILROUTE_EMU_')).length).toBeGreaterThan(0);
  });
});
