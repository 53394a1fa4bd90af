import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upFrontBytes } from '../../infra/aws/zip.ts';
import { bundleOciFunction } from '../../infra/oci/bundle.ts';

// The deployable artifact: the bundle fn builds the image from, started as Fn starts it (`node dist/func.mjs`
// with FN_FORMAT and FN_LISTENER), in a process of its own, with nothing from node_modules beside it.

let dir: string;
let child: ChildProcess | undefined;
let stderr = '';
const socket = () => join(dir, 'fn.sock');

function call(
  body: string,
  headers: Record<string, string>,
): Promise<{ headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket(), path: '/call', method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      res.on('end', () => resolve({ headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mr-oci-bundle-'));
  const out = join(dir, 'dist');
  await bundleOciFunction(out);
  const config = { providers: [{ provider: 'local', mode: 'api', outboxDir: join(dir, 'outbox') }] };
  child = spawn(process.execPath, [join(out, 'func.mjs')], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      FN_FORMAT: 'http-stream',
      FN_LISTENER: `unix:${socket()}`,
      MAILROUTE_CONFIG: JSON.stringify(config),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  for (let i = 0; i < 300 && !existsSync(socket()); i++) await new Promise((r) => setTimeout(r, 10));
}, 60_000);
afterAll(() => {
  child?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('the OCI function bundle (infra/oci/bundle.ts)', () => {
  it('is small enough to deploy, and lists one entry', () => {
    const out = join(dir, 'dist');
    expect(readdirSync(out)).toContain('func.mjs');
    const bytes = (path: string): number =>
      statSync(path).isDirectory()
        ? readdirSync(path).reduce((n, f) => n + bytes(join(path, f)), 0)
        : statSync(path).size;
    // Measured 4.5 MB with every provider's SDK in lazily loaded chunks.
    expect(bytes(out)).toBeLessThan(8 * 2 ** 20);
    // What Fn's cold start parses before the listener is up: measured 34 KB. The mailer (zod), the providers, the
    // OCI SDK (Queue, Vault) and the event intake load with the first invocation that needs them.
    expect(upFrontBytes(out, 'func.mjs')).toBeLessThan(256 * 1024);
  });

  it('starts under Node 22 as Fn starts it and answers an API Gateway request and a Connector Hub batch', async () => {
    expect(existsSync(socket()), stderr).toBe(true);
    const health = await call('', { 'Fn-Http-Request-Url': '/healthz', 'Fn-Http-Method': 'GET' });
    expect(health.headers['fn-http-status']).toBe('200');
    expect(JSON.parse(health.body)).toEqual({ ok: true, providers: ['local-api'] });
    const message = { from: 'app@example.com', to: 'ann@example.net', subject: 'bundled', text: 'Hello.' };
    const batch = await call(JSON.stringify([{ id: 7, content: JSON.stringify(message), deliveryCount: 1 }]), {
      'Content-Type': 'application/json',
    });
    expect(JSON.parse(batch.body)).toEqual({ records: 1, sent: 1, duplicate: 0, deadLettered: 0 });
    expect(readdirSync(join(dir, 'outbox')).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });
});
