import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { encodeAnswer, isJsonContentType } from '../../core/runtime/http-api.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import {
  FORM,
  forgedTokenFor,
  HTML,
  ONE_CLICK,
  tokenFor,
  UNSUB_KEY,
  UNSUB_KEY_VARIABLE,
  UNSUBSCRIBE,
} from '../functions/unsubscribe-links.ts';

// The bytes every HTTP writer sends (npm start and each cloud's HTTP handler): JSON, except a string body under a
// content type that is not JSON (the unsubscribe page), which goes out as it is.

describe('encodeAnswer', () => {
  it('writes an object as JSON under application/json, the other headers kept', () => {
    expect(encodeAnswer({ status: 405, headers: { allow: 'POST' }, body: { ok: false } })).toEqual({
      status: 405,
      headers: { allow: 'POST', 'content-type': 'application/json' },
      body: '{"ok":false}',
      contentType: 'application/json',
    });
  });

  it('writes a string under text/html as it is, with its content type', () => {
    const page = '<!doctype html><html lang="en"><p>"quoted"</p></html>';
    const encoded = encodeAnswer({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page });
    expect(encoded).toMatchObject({ body: page, contentType: 'text/html; charset=utf-8' });
    expect(encoded.headers).toEqual({ 'content-type': 'text/html; charset=utf-8' });
  });

  it('a string with no or a JSON content type is JSON text; a content type in another case is taken once', () => {
    expect(encodeAnswer({ status: 200, headers: {}, body: 'hi' }).body).toBe('"hi"');
    expect(
      encodeAnswer({ status: 200, headers: { 'content-type': 'application/problem+json' }, body: 'hi' }).body,
    ).toBe('"hi"');
    const upper = encodeAnswer({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'plain' });
    expect(upper.headers).toEqual({ 'content-type': 'text/plain' });
    expect(upper.body).toBe('plain');
  });

  it('tells JSON content types', () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/problem+json'])
      expect(isJsonContentType(type), type).toBe(true);
    for (const type of [
      'text/html; charset=utf-8',
      'text/plain',
      'application/jsonl',
      'application/x-www-form-urlencoded',
    ])
      expect(isJsonContentType(type), type).toBe(false);
  });
});

describe('npm start writes the unsubscribe page as HTML', () => {
  let mailer: Mailer;
  let api: LocalApi;
  beforeAll(async () => {
    vi.stubEnv(UNSUB_KEY_VARIABLE, UNSUB_KEY);
    const config = validateConfig(
      { providers: [{ provider: 'local', mode: 'api' }], unsubscribe: UNSUBSCRIBE },
      'test',
      builtInProviders,
    );
    mailer = new Mailer(config, createAdapter, { providers: builtInProviders });
    api = await startLocalApi(mailer, { inbox: false });
  });
  afterAll(async () => {
    await api.close();
    await mailer.close();
    vi.unstubAllEnvs();
  });

  it('GET with Accept text/html: a document under text/html; JSON answers keep their final newline', async () => {
    const token = tokenFor('ann@example.net');
    const page = await fetch(`${api.url}/v1/unsubscribe?token=${token}`, { headers: HTML });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const text = await page.text();
    expect(text.startsWith('<!doctype html>')).toBe(true);
    expect(text).toContain(`action="?token=${token}"`);
    const forged = await fetch(`${api.url}/v1/unsubscribe?token=${forgedTokenFor('ann@example.net')}`, {
      method: 'POST',
      headers: FORM,
      body: ONE_CLICK,
    });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('content-type')).toBe('application/json');
    const body = await forged.text();
    expect(body.endsWith('}\n')).toBe(true);
    expect(JSON.parse(body)).toMatchObject({ ok: false, error: { code: 'INVALID_UNSUBSCRIBE_TOKEN' } });
  });
});
