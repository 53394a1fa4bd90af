import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { SuppressedRecipientsError } from '../../core/errors.ts';
import { signUnsubscribeToken } from '../../core/events/unsubscribe.ts';
import { Mailer } from '../../core/mailer.ts';
import { type HttpRequest, routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { functionLog } from '../../core/runtime/log.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { expectManagedFields, UNSUB_CONFIG, UNSUB_KEY, unsubscribeFields } from './fields.ts';

const RECIPIENT = 'ann@example.net';
const SENDER = 'news@example.com';
const ONE_CLICK = 'List-Unsubscribe=One-Click';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let mailer: Mailer;
let outboxDir: string;
let api: LocalApi;
/** The link of the last message sent, as its List-Unsubscribe carries it. */
let link: URL;

const news = (extra: Record<string, unknown> = {}) => ({
  from: `News <${SENDER}>`,
  to: RECIPIENT,
  subject: 'This week',
  text: 'Hello',
  unsubscribe: { oneClick: true },
  ...extra,
});
const route = (request: Partial<HttpRequest> & { token?: string | undefined }) => {
  const { token, ...rest } = request;
  return routeHttpRequest(mailer, {
    method: 'POST',
    path: '/v1/unsubscribe',
    body: ONE_CLICK,
    headers: FORM,
    query: token === undefined ? {} : { token },
    ...rest,
  });
};
const tokenOf = (url: URL) => url.searchParams.get('token') ?? '';
const suppressed = () => mailer.events.suppressions.list();

async function sendAndReadLink(): Promise<URL> {
  const result = await mailer.send(news());
  const file = String(result.details?.file);
  return new URL(expectManagedFields(unsubscribeFields(readFileSync(file)), RECIPIENT, SENDER));
}

beforeAll(() => {
  vi.stubEnv('MR_TEST_UNSUB_KEY', UNSUB_KEY);
  outboxDir = mkdtempSync(join(tmpdir(), 'mr-unsub-endpoint-'));
});
afterAll(() => vi.unstubAllEnvs());
// A fresh mailer (and so a fresh, empty suppression list in memory) and server for each test.
beforeEach(async () => {
  const config = validateConfig(
    { providers: [{ provider: 'local', mode: 'api' }], outboxDir, unsubscribe: UNSUB_CONFIG },
    'test',
    builtInProviders,
  );
  mailer = new Mailer(config, createAdapter, { providers: builtInProviders });
  api = await startLocalApi(mailer);
  link = await sendAndReadLink();
});
afterEach(async () => {
  await api.close();
  await mailer.close();
});

describe('POST /v1/unsubscribe (RFC 8058)', () => {
  it('puts the recipient on the suppression list; the next send to them is refused SUPPRESSED', async () => {
    const answer = await route({ token: tokenOf(link) });
    expect(answer).toMatchObject({
      status: 200,
      body: { ok: true, unsubscribed: true, recipient: 'a***@example.net' },
    });
    expect(await suppressed()).toEqual([
      {
        address: RECIPIENT,
        reason: 'unsubscribed',
        provider: 'mailroute',
        since: expect.any(String),
        detail: `one-click unsubscribe (RFC 8058) from mail sent by ${SENDER}`,
      },
    ]);
    const again = mailer.send(news({ unsubscribe: undefined }));
    await expect(again).rejects.toBeInstanceOf(SuppressedRecipientsError);
    await expect(again).rejects.toMatchObject({ code: 'SUPPRESSED' });
    // A second click (mail clients retry) answers the same.
    expect((await route({ token: tokenOf(link) })).status).toBe(200);
  });

  it('takes the body as multipart/form-data too', async () => {
    const boundary = '----mailroute42';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    const answer = await route({
      token: tokenOf(link),
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(answer.status).toBe(200);
    expect((await suppressed()).map((e) => e.address)).toEqual([RECIPIENT]);
  });

  it('is served by `npm start` over HTTP, at the URL the header carries (under any base path)', async () => {
    const answer = await fetch(`${api.url}${link.pathname}${link.search}`, {
      method: 'POST',
      headers: FORM,
      body: ONE_CLICK,
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ ok: true, unsubscribed: true });
    expect((await suppressed()).map((e) => e.address)).toEqual([RECIPIENT]);
  });

  it("is served by every cloud's HTTP function (answerHttp), with no API authentication in the way", async () => {
    const answer = await answerHttp(
      { method: 'POST', path: '/v1/unsubscribe', body: ONE_CLICK, headers: FORM, query: { token: tokenOf(link) } },
      { mailer: async () => mailer, log: functionLog(() => {}), end: () => Infinity },
    );
    expect(answer).toMatchObject({ status: 200, body: { ok: true, unsubscribed: true } });
    expect((await suppressed()).map((e) => e.address)).toEqual([RECIPIENT]);
  });
});

describe('refused, and nothing changes', () => {
  const forged = () => {
    const [body] = tokenOf(link).split('.');
    const claim = Buffer.from(body!, 'base64url').toString().replace('ann%40', 'bob%40');
    return `${Buffer.from(claim).toString('base64url')}.${tokenOf(link).split('.')[1]}`;
  };
  const flip = (token: string, at: number) =>
    token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
  const spare = (token: string) => {
    const last = token.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    return token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
  };
  const cases: [string, () => string | undefined, number, RegExp][] = [
    ['no token', () => undefined, 400, /no token/],
    ['a malformed token', () => 'not-a-token', 400, /malformed/],
    ['a tampered recipient', forged, 403, /not one this server signed/],
    ['a flipped signature bit', () => flip(tokenOf(link), tokenOf(link).indexOf('.') + 1), 403, /signed/],
    // The last character of a 32-byte signature holds 2 spare bits: changing only those decodes to the same bytes.
    ['a signature spelt otherwise', () => spare(tokenOf(link)), 403, /signed/],
    ['a flipped payload bit', () => flip(tokenOf(link), 0), 403, /signed/],
    [
      'a token signed with another key',
      () => signUnsubscribeToken({ recipient: RECIPIENT, list: SENDER, expiresAt: 4e9 }, 'x'.repeat(40)),
      403,
      /not one this server signed/,
    ],
    [
      'an expired token',
      () => signUnsubscribeToken({ recipient: RECIPIENT, list: SENDER, expiresAt: 1_700_000_000 }, UNSUB_KEY),
      403,
      /expired on 2023-11-14/,
    ],
  ];

  it.each(cases)('%s', async (_name, token, status, message) => {
    const answer = await route({ token: token() });
    expect(answer).toMatchObject({ status, body: { ok: false, error: { message: expect.stringMatching(message) } } });
    expect(await suppressed()).toEqual([]);
  });

  it('a POST without List-Unsubscribe=One-Click', async () => {
    for (const body of ['', 'List-Unsubscribe=Yes', 'unsubscribe=1']) {
      const answer = await route({ token: tokenOf(link), body });
      expect(answer).toMatchObject({
        status: 400,
        body: { ok: false, error: { code: 'INVALID_UNSUBSCRIBE_REQUEST' } },
      });
    }
    expect(await suppressed()).toEqual([]);
  });

  it('another method', async () => {
    const answer = await route({ token: tokenOf(link), method: 'PUT' });
    expect(answer).toMatchObject({ status: 405, headers: { allow: 'GET, POST' } });
    expect(await suppressed()).toEqual([]);
  });

  it('a configuration without an unsubscribe block answers 404', async () => {
    const bare = new Mailer(validateConfig({ providers: [{ provider: 'local', mode: 'api' }] }), createAdapter);
    const answer = await routeHttpRequest(bare, {
      method: 'POST',
      path: '/v1/unsubscribe',
      body: ONE_CLICK,
      query: { token: tokenOf(link) },
    });
    expect(answer).toMatchObject({ status: 404, body: { ok: false, error: { code: 'NOT_FOUND' } } });
    await bare.close();
  });
});

describe('GET /v1/unsubscribe never unsubscribes (link scanners and prefetches follow links)', () => {
  it('answers JSON to a program, over HTTP', async () => {
    const answer = await fetch(`${api.url}${link.pathname}${link.search}`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ ok: true, unsubscribed: false });
    expect(await suppressed()).toEqual([]);
  });

  it('shows a browser a page whose button POSTs List-Unsubscribe=One-Click back to the same URL', async () => {
    const answer = await route({ method: 'GET', body: '', headers: { accept: 'text/html' }, token: tokenOf(link) });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['content-security-policy']).toContain("form-action 'self'");
    const html = String(answer.body);
    expect(html).toContain(`<form method="post" action="?token=${tokenOf(link)}">`);
    expect(html).toContain('<input type="hidden" name="List-Unsubscribe" value="One-Click">');
    expect(html).toContain(RECIPIENT);
    expect(await suppressed()).toEqual([]);
    // What the button sends, as a browser posts a form: the same URL, the form's fields urlencoded.
    const posted = await route({ headers: { ...FORM, accept: 'text/html' }, token: tokenOf(link) });
    expect(posted.status).toBe(200);
    expect(String(posted.body)).toContain('is unsubscribed');
    expect((await suppressed()).map((e) => e.address)).toEqual([RECIPIENT]);
  });

  it('a bad token gets a page too, with its status', async () => {
    const answer = await route({ method: 'GET', body: '', headers: { accept: 'text/html' }, token: 'x.y' });
    expect(answer.status).toBe(403);
    expect(String(answer.body)).toContain('not one this server signed');
  });
});
