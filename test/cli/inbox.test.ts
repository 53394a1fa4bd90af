import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import type { Mailer } from '../../core/mailer.ts';
import { createMailer } from '../../index.ts';
import { storeInOutbox } from '../../providers/local/outbox.ts';

// The web inbox over plain HTTP: escaping, the refusals that protect deletes, the headers that keep a message's
// HTML and files inert, the route and attempts of a send that failed over, and the live stream.

const outbox = mkdtempSync(join(tmpdir(), 'mr-inbox-'));
let mailer: Mailer;
let api: LocalApi;

beforeAll(async () => {
  mailer = await createMailer({ outboxDir: outbox, providers: [{ name: 'capture', provider: 'local', mode: 'api' }] });
  api = await startLocalApi(mailer);
});

afterAll(async () => {
  await api.close();
  await mailer.close();
  await rm(outbox, { recursive: true, force: true });
});

async function send(
  message: Record<string, unknown>,
  url = api.url,
): Promise<{ messageId: string; providerMessageId: string }> {
  const response = await fetch(`${url}/v1/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'app@example.com', to: 'you@example.com', text: 'hello', ...message }),
  });
  const body = (await response.json()) as { ok: boolean; result: { messageId: string; providerMessageId: string } };
  expect(body.ok).toBe(true);
  return body.result;
}

/** A raw request, for headers fetch will not send as given (Host, Origin, Sec-Fetch-Site). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const files = () => readdirSync(outbox).filter((f) => /\.(eml|json)$/.test(f));

describe('the web inbox over HTTP', () => {
  it('escapes what a message says everywhere: a <script> subject is text, and the page runs no inline script', async () => {
    const subject = '<script>alert(1)</script> & "quotes"';
    const { providerMessageId: id } = await send({
      from: '"<b>Mallory</b>" <mallory@example.com>',
      to: '"<i>you</i>" <you@example.com>',
      subject,
      html: '<p>body</p>',
      attachments: [{ filename: '<img src=x onerror=alert(2)>.txt', contentType: 'text/plain', content: btoa('x') }],
    });
    for (const path of ['/', `/messages/${id}`, `/?q=${encodeURIComponent('<script>')}`]) {
      const response = await fetch(`${api.url}${path}`);
      expect(response.status).toBe(200);
      const page = await response.text();
      expect(page).not.toContain('<script>alert');
      expect(page).not.toContain('<img src=x');
      expect(page).not.toMatch(/<b>Mallory|<i>you/);
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
      // The one script is the page's own file; the CSP allows no other.
      expect(page.match(/<script[^>]*>/g)).toEqual(['<script src="/inbox.js" defer>']);
      expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self';.*frame-ancestors 'none'/);
    }
    const message = await (await fetch(`${api.url}/messages/${id}`)).text();
    expect(message).toContain('&lt;b&gt;Mallory&lt;/b&gt; <span class="addr">&lt;mallory@example.com&gt;</span>');
    expect(message).toContain('&lt;img src=x onerror=alert(2)&gt;.txt');
  });

  it('serves the HTML sandboxed with remote content blocked, and files as downloads of their own type', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
    const { providerMessageId: id } = await send({
      subject: 'files',
      html: '<p>Hi <img src="https://example.com/x.png"><img src="cid:logo@x"></p><script>alert(1)</script>',
      attachments: [
        { filename: 'data.bin', contentType: 'application/x-custom', content: bytes.toString('base64') },
        { filename: 'résumé "final".pdf', contentType: 'application/pdf', content: btoa('%PDF-1.4') },
        { filename: 'logo.png', contentType: 'image/png', content: btoa('png'), contentId: 'logo@x' },
      ],
    });
    const frame = await fetch(`${api.url}/messages/${id}/html`);
    expect(frame.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = frame.headers.get('content-security-policy')!;
    expect(csp).toMatch(/^default-src 'none'; img-src data: cid:; style-src 'unsafe-inline';/);
    expect(csp).toMatch(/sandbox allow-popups allow-popups-to-escape-sandbox$/);
    expect(csp).not.toContain('allow-scripts');
    const body = await frame.text();
    // The inline image is its attachment as a data: URI; the remote one stays as it is, for the CSP to block.
    expect(body).toContain(`src="data:image/png;base64,${btoa('png')}"`);
    expect(body).toContain('src="https://example.com/x.png"');
    const page = await (await fetch(`${api.url}/messages/${id}`)).text();
    expect(page).toMatch(
      /<iframe src="\/messages\/[^"]+\/html" [^>]*sandbox="allow-popups allow-popups-to-escape-sandbox"/,
    );

    // Each attachment by its link in the page (the inline image, in its multipart/related, comes first).
    const links = Object.fromEntries(
      [...page.matchAll(/<a href="(\/messages\/[^"]+\/attachments\/\d+)" download="([^"]+)">/g)].map((m) => [
        m[2],
        m[1],
      ]),
    );
    expect(Object.keys(links).sort()).toEqual(['data.bin', 'logo.png', 'résumé &quot;final&quot;.pdf'].sort());
    const file = await fetch(`${api.url}${links['data.bin']}`);
    expect(file.headers.get('content-type')).toBe('application/x-custom');
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="data.bin"; filename*=UTF-8''data.bin`);
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await file.arrayBuffer())).toEqual(bytes);
    const pdf = await fetch(`${api.url}${links['résumé &quot;final&quot;.pdf']}`);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toBe(
      `attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`,
    );
    const eml = await fetch(`${api.url}/messages/${id}/raw?download=1`);
    expect(eml.headers.get('content-type')).toBe('message/rfc822');
    expect(Buffer.from(await eml.arrayBuffer())).toEqual(readFileSync(join(outbox, `${id}.eml`)));
    expect((await fetch(`${api.url}/messages/${id}/raw`)).headers.get('content-type')).toBe(
      'text/plain; charset=utf-8',
    );

    expect((await fetch(`${api.url}/messages/${id}/attachments/9`)).status).toBe(404);
    expect((await fetch(`${api.url}/messages/nope/raw`)).status).toBe(404);
    expect((await raw('GET', `/messages/..%2F..%2Fetc%2Fpasswd/raw`)).status).toBe(404);
    expect((await raw('GET', `/messages/../../etc/passwd`)).status).toBe(404);
  });

  it('shows the route and every attempt of a send that failed over, and the recipients on the suppression list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-inbox-failover-'));
    const failover = await createMailer({
      outboxDir: dir,
      providers: [
        // Nothing listens on port 1: the first attempt fails and the send fails over to the capture in API mode.
        { name: 'down', provider: 'local', mode: 'smtp', smtp: { host: '127.0.0.1', port: 1 } },
        { name: 'capture', provider: 'local', mode: 'api' },
      ],
    });
    const server = await startLocalApi(failover);
    try {
      await showsFailover(failover, server.url, dir);
    } finally {
      await server.close();
      await failover.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  async function showsFailover(failover: Mailer, url: string, dir: string): Promise<void> {
    const { providerMessageId: id } = await send(
      { subject: 'failover', to: ['you@example.com', 'gone@example.com'] },
      url,
    );
    // The send result is in the capture's JSON before the answer: it is there after a restart too.
    const summary = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));
    expect(summary.send).toMatchObject({ name: 'capture', provider: 'local', mode: 'api', route: 'default' });
    expect(summary.send.attempts.map((a: { name: string; outcome: string }) => [a.name, a.outcome])).toEqual([
      ['down', 'failed'],
      ['capture', 'sent'],
    ]);
    await failover.events.suppressions.add({
      address: 'gone@example.com',
      reason: 'bounced',
      provider: 'ses',
      since: '2026-01-02T03:04:05.000Z',
      detail: 'smtp; 550 5.1.1 user unknown',
    });
    const fragment = await (await fetch(`${url}/messages/${id}?partial=1`)).text();
    expect(fragment).toContain('<b>capture</b> (local, api)');
    expect(fragment).toContain('yes: 2 attempts, 1 failed or skipped');
    expect(fragment).toMatch(/<tr class="failed"><td>1<\/td><td>down<\/td><td>local<\/td><td>smtp<\/td>/);
    expect(fragment).toContain('PROVIDER_UNAVAILABLE: local could not be reached: connect ECONNREFUSED 127.0.0.1:1');
    expect(fragment).toMatch(/<tr class="sent"><td>2<\/td><td>capture<\/td>/);
    // The correlation record delivery events find the message by, and each recipient's place on the list.
    expect(fragment).toContain(`or local id <code>${id}</code> find this send (entry <b>capture</b>, route default)`);
    expect(fragment).toContain('<tr><td>you@example.com</td><td>not suppressed</td></tr>');
    expect(fragment).toMatch(
      /<tr><td>gone@example.com<\/td><td><b class="suppressed">suppressed<\/b>: bounced on ses since 2026-01-02 03:04:05 UTC \(<q>smtp; 550 5.1.1 user unknown<\/q>\)/,
    );
    // The list page of a configuration whose first entry is a capture: no "deliver for real".
    expect(await (await fetch(`${url}/`)).text()).toContain('<td class="subject"><a href="/messages/');
  }

  it('searches by recipient and subject', async () => {
    await send({ subject: 'Invoice 42', to: 'carol@example.org' });
    await send({ subject: 'Welcome aboard', to: 'dave@example.net' });
    const subjects = async (q: string) => {
      const page = await (await fetch(`${api.url}/?partial=1&q=${encodeURIComponent(q)}`)).text();
      return [...page.matchAll(/<td class="subject"><a href="[^"]+">([^<]*)<\/a>/g)].map((m) => m[1]);
    };
    expect(await subjects('to:carol@')).toEqual(['Invoice 42']);
    expect(await subjects('subject:welcome')).toEqual(['Welcome aboard']);
    expect(await subjects('example.net')).toEqual(['Welcome aboard']);
    expect(await subjects('invoice to:dave')).toEqual([]);
    // Newest first.
    expect((await subjects('')).slice(0, 2)).toEqual(['Welcome aboard', 'Invoice 42']);
    expect(await (await fetch(`${api.url}/?partial=1&q=nothing-matches`)).text()).toContain('No message matches');
  });

  it('refuses a delete from another site, without the page, or to another host name; takes the page’s own', async () => {
    const { providerMessageId: id } = await send({ subject: 'keep me' });
    const own = api.url;
    const token = /<meta name="mailroute-token" content="([^"]+)">/.exec(await (await fetch(`${own}/`)).text())![1]!;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const refused = [
      // A form on another site, as the browser sends it: no token, the other site's Origin.
      raw('POST', `/messages/${id}/delete`, { ...form, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }),
      // Even with the token (leaked), the browser's headers say another site.
      raw('POST', `/messages/${id}/delete`, { ...form, 'sec-fetch-site': 'cross-site' }, `token=${token}`),
      raw('DELETE', `/messages/${id}`, { origin: 'null' }),
      raw('POST', '/messages/delete-all', { ...form, origin: 'http://evil.example' }, `token=${token}`),
      raw('DELETE', '/messages', { 'sec-fetch-site': 'same-site' }),
      // Neither the page's origin nor its token.
      raw('POST', `/messages/${id}/delete`, form, 'token=wrong'),
      raw('DELETE', '/messages'),
    ];
    for (const answer of await Promise.all(refused)) {
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 is same-origin to the browser, but names its host.
    const rebound = await raw('DELETE', `/messages/${id}`, {
      host: 'evil.example:3025',
      origin: 'http://evil.example:3025',
      'sec-fetch-site': 'same-origin',
    });
    expect(rebound.status).toBe(421);
    expect((await raw('GET', '/', { host: 'evil.example' })).status).toBe(421);
    expect(existsSync(join(outbox, `${id}.eml`))).toBe(true);

    const host = new URL(own).host;
    const byForm = await raw('POST', `/messages/${id}/delete`, { ...form, host }, `token=${token}`);
    expect(byForm.status).toBe(303);
    expect(byForm.headers.location).toBe('/');
    expect(existsSync(join(outbox, `${id}.eml`))).toBe(false);
    expect(existsSync(join(outbox, `${id}.json`))).toBe(false);
    expect((await raw('DELETE', `/messages/${id}`, { origin: own })).status).toBe(404);

    const { providerMessageId: other } = await send({ subject: 'delete me by fetch' });
    const byFetch = await raw('DELETE', `/messages/${other}`, { origin: own, 'sec-fetch-site': 'same-origin' });
    expect([byFetch.status, JSON.parse(byFetch.body)]).toEqual([200, { ok: true, deleted: 1 }]);

    expect(files().length).toBeGreaterThan(0);
    const all = await raw('DELETE', '/messages', { origin: own });
    expect(all.status).toBe(200);
    expect(JSON.parse(all.body).deleted).toBeGreaterThan(0);
    expect(files()).toEqual([]);
  });

  it('tells the page when the outbox changes: once on connecting, then on each message stored or deleted', async () => {
    const controller = new AbortController();
    const response = await fetch(`${api.url}/events`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    let seen = '';
    const next = async () => {
      while (!/event: change\ndata: \d+\n\n/.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
      const [event] = /event: change\ndata: \d+\n\n/.exec(seen)!;
      seen = seen.slice(seen.indexOf(event) + event.length);
      return event;
    };
    await next();
    const { providerMessageId: id } = await send({ subject: 'live' });
    await next();
    await raw('DELETE', `/messages/${id}`, { origin: api.url });
    await next();
    // A message captured by another process (a `mailroute send`, an SMTP client): seen by watching the outbox.
    const stored = await storeInOutbox(
      outbox,
      Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: elsewhere\r\n\r\nhi\r\n'),
      { from: 'a@example.com', to: ['b@example.com'] },
      'smtp',
    );
    await next();
    expect(await (await fetch(`${api.url}/?partial=1`)).text()).toContain(
      `<a href="/messages/${stored.id}">elsewhere</a>`,
    );
    const fragment = await (await fetch(`${api.url}/messages/${stored.id}?partial=1`)).text();
    expect(fragment).toContain('No send result recorded');
    await raw('DELETE', `/messages/${stored.id}`, { origin: api.url });
    await next();
    controller.abort();
  });

  it('says the providers deliver for real when the outbox is empty and the first entry is not the capture', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-inbox-real-'));
    const real = await createMailer({
      outboxDir: dir,
      providers: [
        { name: 'ses', provider: 'ses', mode: 'api', region: 'us-east-1', endpoint: 'http://127.0.0.1:1' },
        { name: 'local', provider: 'local', mode: 'api' },
      ],
    });
    const server = await startLocalApi(real);
    try {
      const page = await (await fetch(`${server.url}/`)).text();
      expect(page).toContain('No captured mail: the configured providers deliver for real.');
      const local = await (await fetch(`${api.url}/`)).text();
      expect(local).toContain('No messages yet.');
      // The API is still the API.
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true, providers: ['ses', 'local'] });
      expect((await fetch(`${server.url}/v1/nope`)).status).toBe(404);
      // A path that is not the inbox's is the API's, as on every cloud function.
      const unknown = await fetch(`${server.url}/nope`);
      expect([unknown.status, unknown.headers.get('content-type')]).toEqual([404, 'application/json']);
    } finally {
      await server.close();
      await real.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
