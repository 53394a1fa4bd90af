import { type ChildProcess, exec, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOutbox } from '../../providers/local/outbox.ts';

const sh = promisify(exec);
const root = new URL('../..', import.meta.url).pathname;
const outbox = mkdtempSync(join(tmpdir(), 'mr-serve-'));
let child: ChildProcess;
let printed = '';

beforeAll(async () => {
  // Exactly what a user runs: `npm start`, on the embedded default, with a free port.
  // Its own process group: npm starts the server as a child, and stopping npm alone would leave the server running.
  child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, PORT: '0', MAILROUTE_OUTBOX: outbox },
    detached: true,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no curl example:\n${printed}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      if (/^curl .*$/m.test(printed)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${printed}`)));
  });
});

afterAll(async () => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
  // Nothing is left listening: the server under npm went with it.
  const url = /http:\/\/127\.0\.0\.1:\d+/.exec(printed)![0];
  await waitUntilRefused(`${url}/healthz`);
});

async function waitUntilRefused(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} still answers after npm start was stopped`);
}

describe('npm start', () => {
  it('prints a curl example that puts the message in the outbox, intact', async () => {
    const curl = /^curl .*$/m.exec(printed)![0];
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(printed)![0];
    const { stdout } = await sh(curl);
    const answer = JSON.parse(stdout);
    expect(answer.ok).toBe(true);
    const sent = JSON.parse(/-d '(.*)'$/.exec(curl)![1]!);
    const stored = (await listOutbox(outbox)).find((m) => m.id === answer.result.providerMessageId);
    expect(stored).toBeDefined();
    const parsed = await simpleParser(readFileSync(stored!.file));
    expect(parsed.subject).toBe(sent.subject);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : []).toEqual([
      { name: 'You', address: 'you@example.com' },
    ]);
    expect(sent.to).toEqual(['You <you@example.com>']);
    expect(parsed.text?.trim()).toBe(sent.text);
    expect(parsed.html).toContain(sent.html);
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString('base64')])).toEqual([
      [sent.attachments[0].filename, sent.attachments[0].content],
    ]);
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toEqual({ ok: true, providers: ['local'] });
  });

  it('answers 400 with the field errors for invalid JSON or an invalid message, and sends nothing', async () => {
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(printed)![0];
    const before = (await listOutbox(outbox)).length;
    const json = { 'content-type': 'application/json' };
    const badJson = await fetch(`${url}/v1/send`, { method: 'POST', headers: json, body: '{"from": ' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ ok: false, error: { code: 'INVALID_JSON' } });
    const invalid = await fetch(`${url}/v1/send`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ to: 'a@example.com', subject: 'x\ny', text: 't' }),
    });
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as { ok: boolean; error: { issues: { path: string }[] } };
    expect(body.ok).toBe(false);
    expect(body.error.issues.map((i) => i.path).sort()).toEqual(['from', 'subject']);
    const wrongMethod = await fetch(`${url}/v1/send`);
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toEqual({ ok: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST' } });
    const noRoute = await fetch(`${url}/v2/send`, { method: 'POST', body: '{}' });
    expect(noRoute.status).toBe(404);
    expect(await noRoute.json()).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'no route /v2/send' } });
    expect((await listOutbox(outbox)).length).toBe(before);
  });
});
