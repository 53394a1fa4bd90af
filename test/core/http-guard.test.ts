import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { httpFields, httpSettings } from '../../core/config/http-config.ts';
import {
  corsHeaders,
  type GuardedRequest,
  guardHttpRequest,
  type HttpGuardOptions,
  isJsonBody,
  sameSecret,
} from '../../core/runtime/http-guard.ts';

const TOKEN = 'k3Qx9v2LmN8pR4sT6wY1zA5bC7dE0fGh';
const JSON_TYPE = 'application/json';

/** A send as a client of the API makes it: JSON, to the server's own host. */
const send = (
  headers: Record<string, string | undefined> = {},
  over: Partial<GuardedRequest> = {},
): GuardedRequest => ({
  method: 'POST',
  path: '/v1/send',
  headers: { host: '127.0.0.1:3025', 'content-type': JSON_TYPE, ...headers },
  ...over,
});
const local: HttpGuardOptions = { local: true };
const statusOf = (request: GuardedRequest, options: HttpGuardOptions = local) =>
  guardHttpRequest(request, options)?.status ?? 'passed';

describe('HTTP guard: Host (serve only: DNS rebinding)', () => {
  it('takes loopback names with any port, and refuses any other with 421', () => {
    for (const host of [
      'localhost',
      'localhost:3025',
      '127.0.0.1',
      '127.0.0.1:8080',
      '[::1]',
      '[::1]:3025',
      'LOCALHOST:1',
    ]) {
      expect(statusOf(send({ host })), host).toBe('passed');
    }
    for (const host of [
      'attacker.example',
      'attacker.example:3025',
      '127.0.0.1.nip.io',
      '0.0.0.0:3025',
      '10.0.0.5',
      '',
    ]) {
      expect(statusOf(send({ host })), host).toBe(421);
    }
    const refused = guardHttpRequest(send({ host: 'attacker.example:3025' }), local);
    expect(refused).toEqual({
      status: 421,
      headers: { 'cache-control': 'no-store' },
      body: {
        ok: false,
        error: {
          code: 'MISDIRECTED',
          message: expect.stringContaining(
            'not to Host "attacker.example:3025": add the name it is reached by to MAILROUTE_PUBLIC_HOSTS',
          ),
        },
      },
    });
    // No Host at all (HTTP/1.0): not a loopback name either.
    expect(statusOf(send({ host: undefined }))).toBe(421);
  });

  it('applies to every route, those with their own credential and health too', () => {
    const host = 'attacker.example';
    expect(statusOf({ method: 'GET', path: '/healthz', headers: { host } })).toBe(421);
    expect(statusOf({ method: 'POST', path: '/v1/events/ses', headers: { host } })).toBe(421);
    expect(statusOf({ method: 'GET', path: '/v1/unsubscribe', headers: { host } })).toBe(421);
    expect(statusOf({ method: 'GET', path: '/', headers: { host } }, { ...local, inbox: true })).toBe(421);
  });

  it('takes the configured public hosts (without a port: any port) and the address listened on', () => {
    const options = { ...local, publicHosts: ['mail.internal.example', 'relay.example:8443'], hosts: ['192.0.2.10'] };
    for (const host of [
      'mail.internal.example',
      'Mail.Internal.Example:3025',
      'relay.example:8443',
      '192.0.2.10:3025',
    ]) {
      expect(statusOf(send({ host }), options), host).toBe('passed');
    }
    for (const host of ['relay.example', 'relay.example:443', 'other.example', 'internal.example']) {
      expect(statusOf(send({ host }), options), host).toBe(421);
    }
  });

  it('is not checked behind a platform (not local): its Host is the platform’s', () => {
    expect(statusOf(send({ host: 'abc.lambda-url.us-east-1.on.aws' }), {})).toBe('passed');
    expect(statusOf(send({ host: undefined }), {})).toBe('passed');
  });
});

describe('HTTP guard: Origin', () => {
  it('takes no Origin (curl, a server) and the server’s own, in http or https', () => {
    expect(statusOf(send())).toBe('passed');
    expect(statusOf(send({ origin: 'http://127.0.0.1:3025' }))).toBe('passed');
    expect(statusOf(send({ host: 'mail.example.com', origin: 'https://mail.example.com' }), {})).toBe('passed');
    expect(statusOf(send({ host: 'mail.example.com:443', origin: 'https://mail.example.com' }), {})).toBe('passed');
  });

  it('refuses any other with 403 naming it: another site, another port, null', () => {
    for (const origin of [
      'https://evil.example',
      'http://127.0.0.1:3026',
      'http://localhost:3025',
      'null',
      'not a url',
      'https://127.0.0.1:3025.evil.example',
    ]) {
      const refused = guardHttpRequest(send({ origin }), local);
      expect(refused?.status, origin).toBe(403);
      expect(refused?.body, origin).toEqual({
        ok: false,
        error: { code: 'FORBIDDEN_ORIGIN', message: expect.stringContaining(JSON.stringify(origin)) },
      });
    }
    // Behind a platform too, on every route of the API.
    expect(statusOf(send({ origin: 'https://evil.example' }), {})).toBe(403);
    expect(
      statusOf({ method: 'GET', path: '/healthz', headers: { host: 'localhost', origin: 'https://evil.example' } }),
    ).toBe(403);
    expect(
      statusOf({ method: 'POST', path: '/v2/x', headers: { host: 'localhost', origin: 'https://evil.example' } }),
    ).toBe(403);
  });

  it('leaves the routes with their own credential alone: SNS, Event Grid, DSN, unsubscribe links', () => {
    const origin = 'https://evil.example';
    for (const path of ['/v1/events/ses', '/v1/events/acs', '/v1/events/dsn', '/v1/unsubscribe']) {
      expect(
        statusOf({ method: 'POST', path, headers: { host: 'localhost', origin, 'content-type': 'text/plain' } }),
        path,
      ).toBe('passed');
    }
  });

  it('takes the configured CORS origins, answers their preflight, and gives them Allow-Origin', () => {
    const options = { ...local, corsOrigins: ['https://app.example.com'] };
    const origin = 'https://app.example.com';
    expect(statusOf(send({ origin }), options)).toBe('passed');
    expect(corsHeaders(send({ origin }), options)).toEqual({ 'access-control-allow-origin': origin, vary: 'origin' });
    const preflight = guardHttpRequest(
      {
        method: 'OPTIONS',
        path: '/v1/send',
        headers: { host: 'localhost:3025', origin, 'access-control-request-method': 'POST' },
      },
      { ...options, token: TOKEN },
    );
    expect(preflight).toMatchObject({
      status: 204,
      body: '',
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'authorization, content-type, prefer',
      },
    });
    // Another origin: refused, and no CORS header; without configuration none at all.
    expect(statusOf(send({ origin: 'https://other.example.com' }), options)).toBe(403);
    expect(corsHeaders(send({ origin: 'https://other.example.com' }), options)).toEqual({ vary: 'origin' });
    expect(corsHeaders(send({ origin }), local)).toEqual({});
    expect(corsHeaders(send({ origin: 'http://127.0.0.1:3025' }), local)).toEqual({});
    // The preflight of a foreign origin is a 403, not a CORS answer.
    expect(
      statusOf({
        method: 'OPTIONS',
        path: '/v1/send',
        headers: { host: 'localhost:3025', origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      }),
    ).toBe(403);
  });

  it('leaves the web inbox’s Origin to the inbox (its deletes have their own rule)', () => {
    expect(
      statusOf(
        { method: 'GET', path: '/', headers: { host: 'localhost', origin: 'https://evil.example' } },
        { ...local, inbox: true },
      ),
    ).toBe('passed');
  });
});

describe('HTTP guard: the API token', () => {
  const options = { ...local, token: TOKEN };

  it('is required on every route but GET /healthz: 401 with a Bearer challenge', () => {
    const refused = guardHttpRequest(send(), options);
    expect(refused).toEqual({
      status: 401,
      headers: { 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="mailroute"' },
      body: {
        ok: false,
        error: { code: 'UNAUTHORIZED', message: 'this server requires Authorization: Bearer <MAILROUTE_API_TOKEN>' },
      },
    });
    expect(statusOf(send({ authorization: `Bearer ${TOKEN}` }), options)).toBe('passed');
    expect(statusOf(send({ authorization: `bearer ${TOKEN}` }), options)).toBe('passed');
    expect(statusOf({ method: 'GET', path: '/healthz', headers: { host: 'localhost' } }, options)).toBe('passed');
    expect(statusOf({ method: 'POST', path: '/healthz', headers: { host: 'localhost' } }, options)).toBe(401);
    expect(statusOf({ method: 'GET', path: '/v1/nope', headers: { host: 'localhost' } }, options)).toBe(401);
  });

  it('refuses a wrong one, a prefix, a longer one, another scheme; says invalid_token when one was given', () => {
    for (const authorization of [
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.toUpperCase()}`,
      'Bearer ',
      TOKEN,
      `Token ${TOKEN}`,
      `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`,
      `Bearer ${TOKEN} ${TOKEN}`,
    ]) {
      const refused = guardHttpRequest(send({ authorization }), options);
      expect(refused?.status, authorization).toBe(401);
      expect(refused?.headers['www-authenticate']).toBe('Bearer realm="mailroute", error="invalid_token"');
    }
  });

  it('is not asked of the routes with their own credential (the events’ Bearer is the webhook secret)', () => {
    for (const path of ['/v1/events/acs', '/v1/unsubscribe']) {
      expect(
        statusOf(
          { method: 'POST', path, headers: { host: 'localhost', authorization: 'Bearer webhook-secret' } },
          options,
        ),
      ).toBe('passed');
    }
  });

  it('comes to the inbox as a Basic password (any user name), which a browser asks for', () => {
    const inbox = { ...options, inbox: true };
    const page = (authorization?: string): GuardedRequest => ({
      method: 'GET',
      path: '/',
      headers: { host: 'localhost:3025', ...(authorization ? { authorization } : {}) },
    });
    const refused = guardHttpRequest(page(), inbox);
    expect(refused?.status).toBe(401);
    expect(refused?.headers['www-authenticate']).toBe('Basic realm="mailroute inbox", charset="UTF-8"');
    const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
    expect(statusOf(page(basic(`anyone:${TOKEN}`)), inbox)).toBe('passed');
    expect(statusOf(page(basic(`:${TOKEN}`)), inbox)).toBe('passed');
    expect(statusOf(page(`Bearer ${TOKEN}`), inbox)).toBe('passed');
    expect(statusOf(page(basic(`${TOKEN}:x`)), inbox)).toBe(401);
    expect(statusOf(page(basic(TOKEN)), inbox)).toBe(401);
  });

  it('is compared in constant time: the hashes of both, whatever their lengths', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret('', TOKEN)).toBe(false);
    expect(sameSecret(`${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
    expect(sameSecret('é', 'e\u0301')).toBe(false);
  });
});

describe('HTTP guard: JSON bodies only for a send', () => {
  it('refuses any other content type with 415 naming it, and a body without one', () => {
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonp',
      'application/json-seq',
      'application/problem+json',
      'application/json; charset=iso-8859-1',
      'text/json',
    ]) {
      const refused = guardHttpRequest(send({ 'content-type': type }), {});
      expect(refused, type).toEqual({
        status: 415,
        headers: { 'cache-control': 'no-store', accept: JSON_TYPE, 'accept-post': JSON_TYPE },
        body: {
          ok: false,
          error: {
            code: 'UNSUPPORTED_MEDIA_TYPE',
            message: `POST /v1/send takes Content-Type: application/json only, not ${JSON.stringify(type)}`,
          },
        },
      });
    }
    expect(guardHttpRequest(send({ 'content-type': undefined }), {})?.body).toMatchObject({
      error: { message: 'POST /v1/send takes Content-Type: application/json only, not a body without a content type' },
    });
  });

  it('takes application/json, in any case, with a UTF-8 charset or none', () => {
    for (const type of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
    ]) {
      expect(isJsonBody(type), type).toBe(true);
      expect(statusOf(send({ 'content-type': type }), {}), type).toBe('passed');
    }
  });

  it('leaves the other routes their own types: SNS text/plain, a DSN, the unsubscribe form, a GET', () => {
    const at = (method: string, path: string, type?: string) =>
      statusOf({ method, path, headers: { host: 'localhost', ...(type ? { 'content-type': type } : {}) } });
    expect(at('POST', '/v1/events/ses', 'text/plain; charset=UTF-8')).toBe('passed');
    expect(at('POST', '/v1/events/dsn', 'message/rfc822')).toBe('passed');
    expect(at('POST', '/v1/unsubscribe', 'application/x-www-form-urlencoded')).toBe('passed');
    expect(at('POST', '/v1/unsubscribe', 'multipart/form-data; boundary=b')).toBe('passed');
    expect(at('GET', '/v1/send')).toBe('passed'); // answered 405 by the routes
  });

  it('checks the token before the content type: a caller without it learns nothing of the API', () => {
    expect(statusOf(send({ 'content-type': 'text/plain' }), { ...local, token: TOKEN })).toBe(401);
  });
});

describe('http configuration', () => {
  const base = { providers: [{ name: 'local', provider: 'local', mode: 'api' }] };

  it('takes public hosts and CORS origins from the configuration and the environment, merged', () => {
    const config = validateConfig({
      ...base,
      http: { publicHosts: ['mail.example.com'], corsOrigins: ['https://app.example.com'] },
    });
    expect(
      httpSettings(config, {
        MAILROUTE_PUBLIC_HOSTS: ' Relay.example:8443 , mail.example.com',
        MAILROUTE_CORS_ORIGINS: 'http://localhost:5173',
      }),
    ).toEqual({
      publicHosts: ['mail.example.com', 'relay.example:8443'],
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
    });
    expect(httpSettings(validateConfig(base), {})).toEqual({ publicHosts: [], corsOrigins: [] });
    expect(Object.keys(httpFields)).toEqual(['http']);
  });

  it('names a wrong value: a URL for a host, a wildcard or a path for an origin, an unknown field', () => {
    expect(() =>
      validateConfig({
        ...base,
        http: { publicHosts: ['https://mail.example.com/'], corsOrigins: ['*', 'https://a.example/'] },
      }),
    ).toThrow(
      expect.objectContaining({
        issues: [
          { path: 'http.publicHosts[0]', message: expect.stringContaining('must be a host name or IP address') },
          { path: 'http.corsOrigins[0]', message: expect.stringContaining('no wildcard') },
          { path: 'http.corsOrigins[1]', message: expect.stringContaining('exactly an origin') },
        ],
      }),
    );
    expect(() => validateConfig({ ...base, http: { allowedOrigins: [] } })).toThrow(
      /http.allowedOrigins: unknown field/,
    );
    expect(() => httpSettings(validateConfig(base), { MAILROUTE_CORS_ORIGINS: '*' })).toThrow(
      expect.objectContaining({
        code: 'CONFIGURATION',
        issues: [{ path: 'MAILROUTE_CORS_ORIGINS', message: expect.stringContaining('"*"') }],
      }),
    );
    expect(() => httpSettings(validateConfig(base), { MAILROUTE_PUBLIC_HOSTS: 'a b' })).toThrow(
      /MAILROUTE_PUBLIC_HOSTS: "a b"/,
    );
  });
});
