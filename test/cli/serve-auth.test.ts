import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { expectManagedFields, UNSUB_CONFIG, UNSUB_KEY, unsubscribeFields } from '../unsubscribe/fields.ts';

// `mailroute serve` with and without MAILROUTE_API_TOKEN, over real HTTP: the token, the Host, the Origin and the
// content type (core/runtime/http-guard.ts), the web inbox behind the token, and `serve --host 0.0.0.0`.

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const TOKEN = 'serve-auth-token-7d1f0c9a2b4e6f8a';
const WEBHOOK_SECRET = 'events-webhook-secret-for-serve-auth';
const root = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), 'mr-serve-auth-'));

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: () => Record<string, unknown>;
}

/** A request with exactly these headers (a Host of our choosing too, which fetch does not send). */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<Raw> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const bearer = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const message = (subject: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ from: 'app@example.com', to: 'ann@example.net', subject, text: 'Hello', ...extra });

function mailerIn(dir: string, extra: Record<string, unknown> = {}): Mailer {
  const config = validateConfig(
    { providers: [{ name: 'local', provider: 'local', mode: 'api' }], outboxDir: dir, ...extra },
    'test',
    builtInProviders,
  );
  return new Mailer(config, createAdapter, { providers: builtInProviders });
}
const captured = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.eml'));

beforeAll(() => {
  vi.stubEnv('MR_TEST_UNSUB_KEY', UNSUB_KEY);
  vi.stubEnv('MR_SERVE_AUTH_WEBHOOK', WEBHOOK_SECRET);
  vi.stubEnv('MAILROUTE_API_TOKEN', '');
  vi.stubEnv('MAILROUTE_PUBLIC_HOSTS', '');
  vi.stubEnv('MAILROUTE_CORS_ORIGINS', '');
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await rm(home, { recursive: true, force: true });
});

describe('serve with MAILROUTE_API_TOKEN', () => {
  let outbox: string;
  let mailer: Mailer;
  let api: LocalApi;
  beforeEach(async () => {
    outbox = mkdtempSync(join(home, 'token-'));
    mailer = mailerIn(outbox, {
      events: { webhookSecret: { env: 'MR_SERVE_AUTH_WEBHOOK' } },
      unsubscribe: UNSUB_CONFIG,
    });
    api = await startLocalApi(mailer, { apiToken: TOKEN });
  });
  afterEach(async () => {
    await api.close();
    await mailer.close();
  });

  it('asks every route for it but GET /healthz: 401 with a Bearer challenge, and nothing is sent', async () => {
    const missing = await raw(api.url, 'POST', '/v1/send', JSON_TYPE, message('no token'));
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="mailroute"');
    expect(missing.json()).toEqual({
      ok: false,
      error: { code: 'UNAUTHORIZED', message: 'this server requires Authorization: Bearer <MAILROUTE_API_TOKEN>' },
    });
    for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), 'x', TOKEN.toUpperCase()]) {
      const refused = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, ...bearer(wrong) }, message('wrong'));
      expect(refused.status, wrong).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer realm="mailroute", error="invalid_token"');
    }
    // The API takes the token as a bearer only: a password a browser remembers for the inbox never sends mail.
    const asBasic = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, ...basic('me', TOKEN) }, message('basic'));
    expect(asBasic.status).toBe(401);
    expect((await raw(api.url, 'POST', '/v1/send?mode=enqueue', JSON_TYPE, message('queued'))).status).toBe(401);
    expect((await raw(api.url, 'GET', '/v1/nope')).status).toBe(401);
    expect((await raw(api.url, 'POST', '/healthz')).status).toBe(401);
    expect(captured(outbox)).toEqual([]);

    const health = await raw(api.url, 'GET', '/healthz');
    expect([health.status, health.json()]).toEqual([200, { ok: true, providers: ['local'] }]);
    const sent = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, ...bearer() }, message('with token'));
    expect(sent.status).toBe(200);
    expect(sent.json()).toMatchObject({ ok: true, result: { provider: 'local' } });
    expect(captured(outbox)).toHaveLength(1);
  });

  it('compares it in constant time: the SHA-256 of both, so neither its length nor a prefix shows', async () => {
    const compare = vi.mocked(timingSafeEqual);
    compare.mockClear();
    // A token of another length: compared all the same (unhashed, timingSafeEqual would throw on the lengths).
    const short = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, ...bearer('abc') }, message('short'));
    expect(short.status).toBe(401);
    expect(compare).toHaveBeenCalledTimes(1);
    const [a, b] = compare.mock.calls[0] as [Buffer, Buffer];
    expect([a.length, b.length]).toEqual([32, 32]);
    expect(Buffer.from(b).toString('hex')).not.toContain(Buffer.from(TOKEN).toString('hex'));
  });

  it('leaves the events and the unsubscribe links to their own credentials', async () => {
    // Event Grid's handshake, with the events' webhook secret as its bearer (not the API token).
    const validation = [
      {
        id: 'evt-1',
        topic: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Communication/communicationServices/z',
        subject: '',
        data: { validationCode: 'code-123' },
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        dataVersion: '1.0',
        metadataVersion: '1',
        eventTime: '2030-01-02T03:04:05.678Z',
      },
    ];
    const grid = await raw(
      api.url,
      'POST',
      '/v1/events/acs',
      { ...JSON_TYPE, authorization: `Bearer ${WEBHOOK_SECRET}` },
      JSON.stringify(validation),
    );
    expect([grid.status, grid.json()]).toEqual([200, { validationResponse: 'code-123' }]);
    // Without the secret the events refuse it themselves (not with the API's challenge).
    const unsigned = await raw(api.url, 'POST', '/v1/events/acs', JSON_TYPE, JSON.stringify(validation));
    expect(unsigned.status).toBe(401);
    expect(unsigned.json()).not.toMatchObject({ error: { code: 'UNAUTHORIZED' } });

    // A mailbox provider's one-click POST: the signed token in the link is the credential; a form, from anywhere.
    const result = await mailer.send({
      from: 'News <news@example.com>',
      to: 'ann@example.net',
      subject: 'This week',
      text: 'Hello',
      unsubscribe: { oneClick: true },
    });
    const fields = unsubscribeFields(readFileSync(String(result.details?.file)));
    const link = new URL(expectManagedFields(fields, 'ann@example.net', 'news@example.com'));
    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://mail.provider.example' };
    const unsubscribed = await raw(
      api.url,
      'POST',
      `/v1/unsubscribe${link.search}`,
      form,
      'List-Unsubscribe=One-Click',
    );
    expect(unsubscribed.status).toBe(200);
    expect((await mailer.events.suppressions.list()).map((s) => s.address)).toEqual(['ann@example.net']);
  });

  it('keeps the web inbox behind it too, as the password of HTTP Basic (any user name), which a browser asks for', async () => {
    const page = await raw(api.url, 'GET', '/');
    expect(page.status).toBe(401);
    expect(page.headers['www-authenticate']).toBe('Basic realm="mailroute inbox", charset="UTF-8"');
    expect(page.json()).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    for (const path of ['/events', '/inbox.js', '/messages/x', '/messages/x/raw']) {
      expect((await raw(api.url, 'GET', path)).status, path).toBe(401);
    }
    expect((await raw(api.url, 'POST', '/messages/delete-all')).status).toBe(401);
    expect((await raw(api.url, 'GET', '/', basic('me', 'wrong-password-of-some-length'))).status).toBe(401);

    const opened = await raw(api.url, 'GET', '/', basic('anyone', TOKEN));
    expect(opened.status).toBe(200);
    expect(opened.text).toContain('<!doctype html>');
    expect((await raw(api.url, 'GET', '/inbox.js', bearer())).status).toBe(200);
  });

  it('checks the Host and the Origin before the token, and the content type after it', async () => {
    const rebound = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, ...bearer(), host: 'attacker.example' });
    expect([rebound.status, rebound.json()]).toMatchObject([421, { ok: false, error: { code: 'MISDIRECTED' } }]);
    const foreign = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, origin: 'https://evil.example' });
    expect([foreign.status, foreign.json()]).toMatchObject([403, { ok: false, error: { code: 'FORBIDDEN_ORIGIN' } }]);
    const plain = await raw(
      api.url,
      'POST',
      '/v1/send',
      { 'content-type': 'text/plain', ...bearer() },
      message('plain'),
    );
    expect([plain.status, plain.json()]).toEqual([
      415,
      {
        ok: false,
        error: {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: 'POST /v1/send takes Content-Type: application/json only, not "text/plain"',
        },
      },
    ]);
    expect(captured(outbox)).toEqual([]);
  });
});

describe('serve on loopback without a token: browser-safe', () => {
  let outbox: string;
  let mailer: Mailer;
  let api: LocalApi;
  beforeAll(async () => {
    outbox = mkdtempSync(join(home, 'open-'));
    mailer = mailerIn(outbox, {
      http: { publicHosts: ['mail.internal.example'], corsOrigins: ['http://localhost:5173'] },
    });
    api = await startLocalApi(mailer);
  });
  afterAll(async () => {
    await api.close();
    await mailer.close();
  });

  it('sends JSON from a client (no Origin) or from its own origin, on a loopback host name', async () => {
    const port = new URL(api.url).port;
    for (const [host, origin] of [
      [`127.0.0.1:${port}`, undefined],
      [`localhost:${port}`, `http://localhost:${port}`],
      [`[::1]:${port}`, undefined],
      ['mail.internal.example', 'https://mail.internal.example'],
    ] as const) {
      const headers = { ...JSON_TYPE, host, ...(origin ? { origin } : {}) };
      expect((await raw(api.url, 'POST', '/v1/send', headers, message(`from ${host}`))).status, host).toBe(200);
    }
    expect(captured(outbox)).toHaveLength(4);
    // The configured public host reaches the inbox as well (behind a reverse proxy), an unknown one does not.
    expect((await raw(api.url, 'GET', '/', { host: 'mail.internal.example' })).status).toBe(200);
  });

  it('refuses a body of another type (415), another Host (421), another Origin (403): ok: false, nothing sent', async () => {
    const before = captured(outbox).length;
    const body = message('refused', { bcc: 'eve@example.org' });
    const cases: [Record<string, string>, number, string, string][] = [
      [{ 'content-type': 'text/plain;charset=UTF-8' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain;charset=UTF-8'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'urlencoded'],
      [{}, 415, 'UNSUPPORTED_MEDIA_TYPE', 'without a content type'],
      [{ ...JSON_TYPE, host: 'attacker.example' }, 421, 'MISDIRECTED', 'attacker.example'],
      [{ ...JSON_TYPE, host: 'attacker.example:3025' }, 421, 'MISDIRECTED', 'MAILROUTE_PUBLIC_HOSTS'],
      [{ ...JSON_TYPE, origin: 'https://evil.example' }, 403, 'FORBIDDEN_ORIGIN', 'https://evil.example'],
      [{ ...JSON_TYPE, origin: 'null' }, 403, 'FORBIDDEN_ORIGIN', 'null'],
      [{ 'content-type': 'text/plain', origin: 'http://127.0.0.1:1' }, 403, 'FORBIDDEN_ORIGIN', '127.0.0.1:1'],
    ];
    for (const [headers, status, code, named] of cases) {
      const answer = await raw(api.url, 'POST', '/v1/send', headers, body);
      expect(answer.status, JSON.stringify(headers)).toBe(status);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      expect(answer.json()).toEqual({ ok: false, error: { code, message: expect.stringContaining(named) } });
    }
    // DNS rebinding reads nothing either: not the health, not the inbox.
    expect((await raw(api.url, 'GET', '/healthz', { host: 'attacker.example' })).status).toBe(421);
    expect((await raw(api.url, 'GET', '/', { host: 'attacker.example' })).status).toBe(421);
    expect(captured(outbox)).toHaveLength(before);
  });
  it('answers CORS for the configured origin only: its preflight, Allow-Origin on its answers, refusals included', async () => {
    const app = 'http://localhost:5173';
    const preflight = await raw(api.url, 'OPTIONS', '/v1/send', {
      origin: app,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.text).toBe('');
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': app,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'authorization, content-type, prefer',
      vary: 'origin',
    });
    const sent = await raw(api.url, 'POST', '/v1/send', { ...JSON_TYPE, origin: app }, message('from the app'));
    expect([sent.status, sent.headers['access-control-allow-origin']]).toEqual([200, app]);
    const plain = await raw(api.url, 'POST', '/v1/send', { 'content-type': 'text/plain', origin: app }, '{}');
    expect([plain.status, plain.headers['access-control-allow-origin']]).toEqual([415, app]);
    // Another origin: its preflight is refused, with no CORS header.
    const other = await raw(api.url, 'OPTIONS', '/v1/send', {
      origin: 'http://localhost:5174',
      'access-control-request-method': 'POST',
    });
    expect([other.status, other.headers['access-control-allow-origin']]).toEqual([403, undefined]);
  });
});

describe('serve beyond loopback', () => {
  it('refuses to listen without a token, naming MAILROUTE_API_TOKEN, and a token too short', async () => {
    const mailer = mailerIn(mkdtempSync(join(home, 'exposed-')));
    try {
      for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
        await expect(startLocalApi(mailer, { host }), host).rejects.toMatchObject({
          code: 'CONFIGURATION',
          message: expect.stringContaining('set MAILROUTE_API_TOKEN'),
          issues: [{ path: 'MAILROUTE_API_TOKEN', message: `is required to listen on ${host} (not loopback)` }],
        });
      }
      await expect(startLocalApi(mailer, { apiToken: 'short' })).rejects.toMatchObject({
        code: 'CONFIGURATION',
        issues: [{ path: 'MAILROUTE_API_TOKEN', message: 'must be at least 16 characters' }],
      });
      // MAILROUTE_API_TOKEN is the default.
      vi.stubEnv('MAILROUTE_API_TOKEN', TOKEN);
      const api = await startLocalApi(mailer);
      try {
        expect((await raw(api.url, 'POST', '/v1/send', JSON_TYPE, message('env'))).status).toBe(401);
      } finally {
        await api.close();
        vi.stubEnv('MAILROUTE_API_TOKEN', '');
      }
    } finally {
      await mailer.close();
    }
  });

  it('`mailroute serve --host 0.0.0.0` says why it does not start without a token, and starts with one', async () => {
    const dir = mkdtempSync(join(home, 'cli-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MAILROUTE_OUTBOX: join(dir, 'outbox'),
      MAILROUTE_STATE_FILE: join(dir, 'state.json'),
      MAILROUTE_API_TOKEN: '',
    };
    delete env.MAILROUTE_CONFIG;
    delete env.MAILROUTE_CONFIG_FILE;
    const bin = join(root, 'bin/mailroute.js');
    const refused = await run(process.execPath, [bin, 'serve', '--host', '0.0.0.0', '--port', '0'], { cwd: dir, env })
      .then(() => undefined)
      .catch((error: { code: number; stdout: string }) => error);
    expect(refused?.code).toBe(1);
    expect(JSON.parse(refused!.stdout)).toMatchObject({
      ok: false,
      error: {
        code: 'CONFIGURATION',
        message: expect.stringMatching(/^serve --host 0\.0\.0\.0 listens beyond this machine.*MAILROUTE_API_TOKEN/),
        issues: [{ path: 'MAILROUTE_API_TOKEN' }],
      },
    });

    let child: ChildProcess | undefined;
    let printed = '';
    try {
      child = spawn(process.execPath, [bin, 'serve', '--host', '0.0.0.0', '--port', '0'], {
        cwd: dir,
        env: { ...env, MAILROUTE_API_TOKEN: TOKEN },
        detached: true,
      });
      await new Promise<void>((resolve, reject) => {
        child!.stdout?.on('data', (chunk: Buffer) => {
          printed += chunk.toString();
          if (/^curl .*$/m.test(printed)) resolve();
        });
        child!.stderr?.on('data', (chunk: Buffer) => {
          printed += chunk.toString();
        });
        child!.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${printed}`)));
      });
      expect(printed).toContain('Listening on 0.0.0.0; every request but GET /healthz must send Authorization: Bearer');
      const curl = /^curl .*$/m.exec(printed)![0];
      expect(curl).toContain('-H "authorization: Bearer $MAILROUTE_API_TOKEN"');
      // The printed example works with the token in the environment, and is refused without it.
      const withToken = await run('sh', ['-c', curl], { env: { ...process.env, MAILROUTE_API_TOKEN: TOKEN } });
      expect(JSON.parse(withToken.stdout)).toMatchObject({ ok: true });
      const without = await run('sh', ['-c', curl], { env: { ...process.env, MAILROUTE_API_TOKEN: '' } });
      expect(JSON.parse(without.stdout)).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    } finally {
      if (child?.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        process.kill(-child.pid!, 'SIGTERM');
        await exited;
      }
    }
  });
});
