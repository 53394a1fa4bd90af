import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// Issue 17's acceptance: a page served from another origin cannot make `mailroute serve` send, in a real browser
// (Debian's chromium, driven by playwright-core): neither an auto-submitted form (enctype text/plain, which makes a
// JSON-looking body), nor a `no-cors` fetch, nor a CORS fetch of JSON; nor a request naming another Host, as a
// DNS-rebinding page would (sent from node: real rebinding needs a DNS server). And the web inbox behind the token.

const INSTALL = 'apt-get update && apt-get install -y chromium';
// CHROMIUM_PATH names another browser binary (and, naming none that exists, shows what a machine without one does).
const executablePath = (
  process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser']
).find((p) => existsSync(p));
const missing = !executablePath
  ? `chromium not found: install it with \`${INSTALL}\` (npm test does so as root, through scripts/ensure-test-tools.sh)`
  : undefined;
if (missing) process.stderr.write(`cross-origin browser test skipped: ${missing}\n`);

const root = new URL('../..', import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), 'mr-cross-origin-'));
const outbox = join(home, 'outbox');
const TOKEN = 'cross-origin-inbox-token-4f9b2c7e1a';

let serve: ChildProcess | undefined;
let printed = '';
/** The real `mailroute serve`, on 127.0.0.1. */
let target = '';
/** The attacker's site: another origin (localhost, another port), as any page a developer visits would be. */
let attacker: Server | undefined;
let attackerUrl = '';
let browser: Browser | undefined;
let page: Page;

/** What the page tries to send: a message from anyone, with a Bcc, as in the issue's finding. */
const FORGED = {
  from: 'ceo@any.example',
  to: 'victim@example.net',
  bcc: 'eve@example.org',
  subject: 'Forged by a web page',
};

/**
 * The classic trick: a text/plain form posts `name=value\r\n`; a name that opens the JSON and a value that closes it
 * make a body that is valid JSON (`"text":"hello="`), which a server reading any body as JSON takes as a message.
 */
function formPage(action: string): string {
  const json = JSON.stringify({ ...FORGED, text: 'hello' });
  const name = json.slice(0, -2); // ... "text":"hello
  const attr = (s: string) => s.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
  return `<!doctype html><title>cute cats</title>
<form id="f" method="POST" enctype="text/plain" action="${attr(action)}">
<input type="hidden" name="${attr(name)}" value="${attr('"}')}">
</form>
<script>document.getElementById('f').submit()</script>`;
}

/** A `no-cors` fetch (no preflight, an opaque answer), then a CORS fetch of JSON (preflighted). */
function fetchPage(url: string): string {
  const body = JSON.stringify(JSON.stringify({ ...FORGED, text: 'by fetch' }));
  return `<!doctype html><title>cute dogs</title>
<script>
fetch(${JSON.stringify(url)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${body} })
  .then(() => fetch(${JSON.stringify(`${url}?cors`)}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${body} }))
  .catch(() => {});
</script>`;
}

const captured = () => (existsSync(outbox) ? readdirSync(outbox).filter((f) => f.endsWith('.eml')) : []);

/** The next request of the page to `url` that finished (with its answer) or failed (with why): no fixed sleep. */
function settled(url: string): Promise<{ request: Request; failure?: string }> {
  return new Promise((resolve) => {
    const finished = (request: Request) => {
      if (request.url() !== url) return;
      page.off('requestfinished', finished);
      page.off('requestfailed', failed);
      resolve({ request });
    };
    const failed = (request: Request) => {
      if (request.url() !== url) return;
      page.off('requestfinished', finished);
      page.off('requestfailed', failed);
      resolve({ request, failure: request.failure()?.errorText ?? 'failed' });
    };
    page.on('requestfinished', finished);
    page.on('requestfailed', failed);
  });
}

/** A request from node with the Host a DNS-rebinding page would send (its own name, resolved to 127.0.0.1). */
function rebound(
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const url = new URL(path, target);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  if (missing) return;
  // The real server, as `npm start` runs it, in a directory of its own, with the local capture inbox.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    MAILROUTE_OUTBOX: outbox,
    MAILROUTE_STATE_FILE: join(home, 'state.json'),
  };
  for (const name of ['MAILROUTE_CONFIG', 'MAILROUTE_CONFIG_FILE', 'MAILROUTE_API_TOKEN', 'MAILROUTE_CORS_ORIGINS']) {
    delete env[name];
  }
  serve = spawn(process.execPath, [join(root, 'bin/mailroute.js'), 'serve'], { cwd: home, env, detached: true });
  serve.stderr?.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    serve!.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      if (/^curl .*$/m.test(printed)) resolve();
    });
    serve!.once('exit', (code) => reject(new Error(`mailroute serve exited with ${code}:\n${printed}`)));
  });
  target = /http:\/\/127\.0\.0\.1:\d+/.exec(printed)![0];

  attacker = createServer((req, res) => {
    const html = req.url === '/form' ? formPage(`${target}/v1/send`) : fetchPage(`${target}/v1/send`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => attacker!.listen(0, '127.0.0.1', resolve));
  attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}`;

  browser = await chromium.launch({ executablePath });
  page = await (await browser.newContext()).newPage();
});

afterAll(async () => {
  await browser?.close();
  if (serve?.exitCode === null) {
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    process.kill(-serve.pid!, 'SIGTERM');
    await exited;
  }
  await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)));
  await rm(home, { recursive: true, force: true });
});

describe(`a page of another origin cannot make serve send (chromium; without it, skipped: install with \`${INSTALL}\`)`, () => {
  it.skipIf(missing)(
    'an auto-submitted text/plain form: refused (403, its Origin named), nothing captured',
    async () => {
      const done = settled(`${target}/v1/send`);
      await page.goto(`${attackerUrl}/form`);
      const { request, failure } = await done;
      expect(failure).toBeUndefined();
      // The browser did send it, as the old server took it: a POST of a JSON-looking text/plain body.
      expect(request.method()).toBe('POST');
      expect(await request.headerValue('content-type')).toBe('text/plain');
      expect(JSON.parse(request.postData() ?? '')).toMatchObject({ ...FORGED, text: 'hello=' });
      const response = await request.response();
      expect(response?.status()).toBe(403);
      expect(await response?.json()).toEqual({
        ok: false,
        error: { code: 'FORBIDDEN_ORIGIN', message: expect.stringContaining(`"${attackerUrl}"`) },
      });
      expect(captured()).toEqual([]);
    },
  );

  it.skipIf(missing)(
    'a no-cors fetch of text/plain, then a CORS fetch of JSON (its preflight refused): nothing captured',
    async () => {
      const opaque = settled(`${target}/v1/send`);
      const preflighted = settled(`${target}/v1/send?cors`);
      await page.goto(`${attackerUrl}/fetch`);
      const first = await opaque;
      // Sent, and answered: the browser then withholds the answer from the page (ORB: JSON to a no-cors request).
      expect([undefined, 'net::ERR_ABORTED']).toContain(first.failure);
      expect(first.request.method()).toBe('POST');
      expect(await first.request.headerValue('content-type')).toBe('text/plain');
      // The JSON fetch needs a preflight, which is refused: the browser never sends the POST.
      const second = await preflighted;
      expect(second.failure).toBe('net::ERR_FAILED');
      expect(captured()).toEqual([]);
    },
  );

  it.skipIf(missing)('a request naming another Host (DNS rebinding) is refused 421, whatever it carries', async () => {
    const body = JSON.stringify({ ...FORGED, text: 'rebound' });
    const port = new URL(target).port;
    const variants: Record<string, string>[] = [
      { host: `attacker.example:${port}`, 'content-type': 'application/json' },
      // Same-origin to the browser after rebinding: its Origin is the attacker's name.
      {
        host: `attacker.example:${port}`,
        'content-type': 'application/json',
        origin: `http://attacker.example:${port}`,
      },
    ];
    for (const headers of variants) {
      const answer = await rebound('/v1/send', body, headers);
      expect(answer.status).toBe(421);
      expect(JSON.parse(answer.text)).toMatchObject({ ok: false, error: { code: 'MISDIRECTED' } });
    }
    expect(captured()).toEqual([]);
  });

  it.skipIf(missing)(
    'while the same message sent as an API client sends it does arrive (the outbox is watched)',
    async () => {
      const response = await fetch(`${target}/v1/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...FORGED, text: 'from a client' }),
      });
      expect(response.status).toBe(200);
      expect(captured()).toHaveLength(1);
    },
  );
});

describe(`the web inbox behind MAILROUTE_API_TOKEN (chromium; without it, skipped: install with \`${INSTALL}\`)`, () => {
  let mailer: Mailer;
  let api: LocalApi;
  const dir = join(home, 'token-outbox');

  beforeAll(async () => {
    if (missing) return;
    mkdirSync(dir, { recursive: true });
    const config = validateConfig(
      { providers: [{ name: 'local', provider: 'local', mode: 'api' }], outboxDir: dir },
      'test',
      builtInProviders,
    );
    mailer = new Mailer(config, createAdapter, { providers: builtInProviders });
    api = await startLocalApi(mailer, { apiToken: TOKEN });
  });
  afterAll(async () => {
    await api?.close();
    await mailer?.close();
  });

  it.skipIf(missing)('asks for the token as a password; with it, the page lists what arrives, live', async () => {
    const context = await browser!.newContext({ httpCredentials: { username: 'me', password: TOKEN } });
    try {
      const inbox = await context.newPage();
      const opened = await inbox.goto(`${api.url}/`);
      expect(opened?.status()).toBe(200);
      await expect.poll(() => inbox.locator('#messages').textContent()).toContain('No messages yet.');
      const sent = await fetch(`${api.url}/v1/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ from: 'app@example.com', to: 'ann@example.net', subject: 'Seen live', text: 'hi' }),
      });
      expect(sent.status).toBe(200);
      // Shown without a reload: the live stream (/events) got through with the credentials too.
      await inbox.getByRole('link', { name: 'Seen live' }).waitFor();
    } finally {
      await context.close();
    }
    // Without the password: the challenge, and nothing of the inbox (Playwright's page would only say that the
    // browser gave up on the credentials, so its request client asks).
    const anonymous = await browser!.newContext();
    try {
      const refused = await anonymous.request.get(`${api.url}/`);
      expect(refused.status()).toBe(401);
      expect(refused.headers()['www-authenticate']).toBe('Basic realm="mailroute inbox", charset="UTF-8"');
      expect(await refused.text()).not.toContain('Seen live');
    } finally {
      await anonymous.close();
    }
  });
});
