import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/mailroute.js', import.meta.url).pathname;

/** Runs the real `mailroute` executable and returns its exit code and parsed JSON output. */
async function mailroute(args: string[], env: Record<string, string> = {}) {
  const outbox = mkdtempSync(join(tmpdir(), 'mr-cli-'));
  try {
    const { stdout } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, MAILROUTE_OUTBOX: outbox, ...env },
    });
    return { code: 0, json: JSON.parse(stdout), outbox };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, json: JSON.parse(e.stdout), outbox };
  }
}

function messageFile(message: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mr-msg-')), 'm.json');
  writeFileSync(file, JSON.stringify(message));
  return file;
}

const good = { from: 'App <app@example.com>', to: 'user@example.com', subject: 'Hi', text: 'Hello' };

describe('mailroute CLI', () => {
  it('send --message prints the JSON result and exits 0', async () => {
    const { code, json, outbox } = await mailroute(['send', '--message', messageFile(good)]);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      ok: true,
      result: { provider: 'local', mode: 'smtp', accepted: ['user@example.com'] },
    });
    const listed = await mailroute(['outbox', '--dir', outbox, '--json']);
    expect(listed.json.messages.map((m: { subject: string }) => m.subject)).toEqual(['Hi']);
  });

  it('exits non-zero and names subject when it holds a CRLF', async () => {
    const { code, json } = await mailroute([
      'send',
      '--message',
      messageFile({ ...good, subject: 'Hi\r\nBcc: x@example.com' }),
    ]);
    expect(code).toBe(1);
    expect(json.ok).toBe(false);
    expect(json.error.code).toBe('INVALID_MESSAGE');
    expect(json.error.issues.map((i: { path: string }) => i.path)).toEqual(['subject']);
  });

  it('exits non-zero and names from when it is missing', async () => {
    const { from: _omit, ...noFrom } = good;
    const { code, json } = await mailroute(['send', '--message', messageFile(noFrom)]);
    expect(code).toBe(1);
    expect(json.error).toMatchObject({
      name: 'InvalidMessageError',
      issues: [{ path: 'from', message: 'is required' }],
    });
  });

  it('takes the common fields as flags, overriding the file', async () => {
    const lines: string[] = [];
    const outbox = mkdtempSync(join(tmpdir(), 'mr-cli-'));
    process.env.MAILROUTE_OUTBOX = outbox;
    try {
      const code = await main(
        [
          'send',
          '--message',
          messageFile(good),
          '--to',
          'a@example.com',
          '--to',
          'b@example.com',
          '--subject',
          'Flagged',
        ],
        (l) => lines.push(l),
      );
      expect(code).toBe(0);
    } finally {
      delete process.env.MAILROUTE_OUTBOX;
    }
    expect(JSON.parse(lines.join('\n')).result.accepted).toEqual(['a@example.com', 'b@example.com']);
  });

  it('config check prints the configuration redacted and names missing secrets', async () => {
    const config = JSON.stringify({
      providers: [
        {
          name: 'oci',
          provider: 'oci',
          mode: 'smtp',
          region: 'eu-frankfurt-1',
          smtpCredentials: { username: { env: 'T_OCI_USER' }, password: { env: 'T_OCI_PASS' } },
        },
      ],
    });
    const ok = await mailroute(['config', 'check'], {
      MAILROUTE_CONFIG: config,
      T_OCI_USER: 'user',
      T_OCI_PASS: 'secret-pass-9',
    });
    expect(ok.code).toBe(0);
    expect(ok.json.config.providers[0].smtpCredentials.password).toEqual({ env: 'T_OCI_PASS' });
    expect(JSON.stringify(ok.json)).not.toContain('secret-pass-9');
    const missing = await mailroute(['config', 'check'], { MAILROUTE_CONFIG: config, T_OCI_USER: 'user' });
    expect(missing.code).toBe(1);
    expect(missing.json.missingSecrets).toEqual([
      { path: 'providers[0].smtpCredentials.password', message: 'environment variable T_OCI_PASS is not set' },
    ]);
    const invalid = await mailroute(['config', 'check'], {
      MAILROUTE_CONFIG: '{"providers":[{"provider":"ses","mode":"api"}]}',
    });
    expect(invalid.code).toBe(1);
    expect(invalid.json.error.issues[0].path).toBe('providers[0].region');
  });

  it('config check --connect opens each provider and reports it', async () => {
    const { code, json } = await mailroute(['config', 'check', '--connect']);
    expect(code).toBe(0);
    expect(json.connect).toEqual([{ name: 'local', provider: 'local', mode: 'smtp', ok: true }]);
  });
});

describe('mailroute explain', () => {
  it('prints the route, the providers in order and why, without sending', async () => {
    const config = JSON.stringify({
      providers: [
        { name: 'primary', provider: 'local', mode: 'api', domains: ['example.com'] },
        { name: 'backup', provider: 'local', mode: 'smtp' },
      ],
      routes: [{ name: 'main', providers: ['primary', 'backup'], senderDomains: ['example.com'] }],
    });
    const { code, json, outbox } = await mailroute(['explain', '--message', messageFile(good)], {
      MAILROUTE_CONFIG: config,
    });
    expect(code).toBe(0);
    expect(json).toMatchObject({
      ok: true,
      route: 'main',
      why: 'route "main" serves sender domain example.com',
      candidates: [
        { name: 'primary', why: 'first in the route' },
        { name: 'backup', why: 'failover #1' },
      ],
      health: { primary: 'closed', backup: 'closed' },
    });
    const listed = await mailroute(['outbox', '--dir', outbox, '--json']);
    expect(listed.json.messages).toEqual([]);
  });
});

describe('mailroute send --route', () => {
  it('sends through the named route', async () => {
    const config = JSON.stringify({
      providers: [
        { name: 'a', provider: 'local', mode: 'api' },
        { name: 'b', provider: 'local', mode: 'api' },
      ],
      routes: [{ name: 'via-b', providers: ['b'] }],
    });
    const { code, json } = await mailroute(['send', '--message', messageFile(good), '--route', 'via-b'], {
      MAILROUTE_CONFIG: config,
    });
    expect(code).toBe(0);
    expect(json.result).toMatchObject({ name: 'b', route: 'via-b' });
  });

  it('--route overrides the route the message file names, as every flag overrides the file', async () => {
    const config = JSON.stringify({
      providers: [
        { name: 'a', provider: 'local', mode: 'api' },
        { name: 'b', provider: 'local', mode: 'api' },
      ],
      routes: [
        { name: 'via-a', providers: ['a'] },
        { name: 'via-b', providers: ['b'] },
      ],
    });
    const file = messageFile({ ...good, route: 'via-a' });
    const env = { MAILROUTE_CONFIG: config };
    const sent = await mailroute(['send', '--message', file, '--route', 'via-b'], env);
    expect(sent.code).toBe(0);
    expect(sent.json.result).toMatchObject({ name: 'b', route: 'via-b' });
    const explained = await mailroute(['explain', '--message', file, '--route', 'via-b'], env);
    expect(explained.json).toMatchObject({ ok: true, route: 'via-b', candidates: [{ name: 'b' }] });
    // Without the flag, the file's own route.
    expect((await mailroute(['send', '--message', file], env)).json.result).toMatchObject({ route: 'via-a' });
  });
});
