import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INFLIGHT_BYTES, httpLimits } from '../../core/config/http-config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { inflightBudget } from '../../core/runtime/http-body.ts';
import { type HttpRequest, routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('httpLimits', () => {
  it('defaults to 48 MiB bodies and 64 MiB in flight', () => {
    expect(httpLimits({}, {})).toMatchObject({
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      maxInflightBytes: DEFAULT_MAX_INFLIGHT_BYTES,
    });
    expect([DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INFLIGHT_BYTES]).toEqual([48 * MiB, 64 * MiB]);
  });

  it('takes the http block, the environment over it, and names where each came from', () => {
    const config = { http: { maxBodyBytes: 2 * MiB, maxInflightBytes: 8 * MiB } };
    expect(httpLimits(config, {})).toEqual({
      maxBodyBytes: 2 * MiB,
      maxInflightBytes: 8 * MiB,
      bodySetting: 'http.maxBodyBytes',
      inflightSetting: 'http.maxInflightBytes',
    });
    const env = { MAILROUTE_HTTP_MAX_BODY_BYTES: String(MiB), MAILROUTE_HTTP_MAX_INFLIGHT_BYTES: String(4 * MiB) };
    expect(httpLimits(config, env)).toEqual({
      maxBodyBytes: MiB,
      maxInflightBytes: 4 * MiB,
      bodySetting: 'MAILROUTE_HTTP_MAX_BODY_BYTES',
      inflightSetting: 'MAILROUTE_HTTP_MAX_INFLIGHT_BYTES',
    });
  });

  it('0 in flight is no budget; a body limit above the default budget raises the budget to it', () => {
    expect(httpLimits({ http: { maxInflightBytes: 0 } }, {}).maxInflightBytes).toBe(Infinity);
    expect(httpLimits({ http: { maxBodyBytes: 100 * MiB } }, {}).maxInflightBytes).toBe(100 * MiB);
  });

  it('refuses a budget smaller than the body limit, naming both settings', () => {
    const wrong = () =>
      httpLimits({ http: { maxBodyBytes: 2 * MiB } }, { MAILROUTE_HTTP_MAX_INFLIGHT_BYTES: '1048576' });
    expect(wrong).toThrow(ConfigurationError);
    expect(wrong).toThrow(
      /MAILROUTE_HTTP_MAX_INFLIGHT_BYTES: is 1048576 bytes, less than the body limit of 2097152 bytes \(http\.maxBodyBytes\)/,
    );
  });

  it('refuses a value that is not a number of bytes, naming the variable', () => {
    for (const value of ['48MB', '-1', '1e6', '100']) {
      let error: unknown;
      try {
        httpLimits({}, { MAILROUTE_HTTP_MAX_BODY_BYTES: value });
      } catch (caught) {
        error = caught;
      }
      expect(error, value).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError & { issues: unknown[] }).issues, value).toEqual([
        {
          path: 'MAILROUTE_HTTP_MAX_BODY_BYTES',
          message: `"${value}" must be a whole number of bytes, at least 65536`,
        },
      ]);
    }
  });

  it('the configuration validates the fields', () => {
    expect(() =>
      validateConfig({ providers: [{ provider: 'local', mode: 'api' }], http: { maxBodyBytes: 10 } }),
    ).toThrow(/http\.maxBodyBytes/);
    expect(() =>
      validateConfig({ providers: [{ provider: 'local', mode: 'api' }], http: { maxInflightBytes: -1 } }),
    ).toThrow(/http\.maxInflightBytes/);
  });
});

/**
 * The cloud functions' path: the platform has read the body, `routeHttpRequest` holds it to the limit and the
 * in-flight budget before parsing it. Limits of their own (1 MiB bodies, 1.5 MiB in flight), so the budget is this
 * file's alone.
 */
describe('routeHttpRequest: a body already read', () => {
  const outbox = mkdtempSync(join(tmpdir(), 'mr-body-limit-'));
  const http = { maxBodyBytes: MiB, maxInflightBytes: 1.5 * MiB };
  const mailer = new Mailer(
    validateConfig({ providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: outbox }], http }),
    createAdapter,
    { providers: builtInProviders },
  );
  afterAll(() => mailer.close());
  const budget = inflightBudget(http.maxInflightBytes);

  /** A message whose JSON is exactly `bytes` long (an attachment fills it). */
  const messageOf = (bytes: number, subject = 'sized'): string => {
    const bare = JSON.stringify({
      from: 'a@example.com',
      to: 'b@example.com',
      subject,
      text: 'Hello',
      attachments: [{ filename: 'fill.bin', content: '' }],
    });
    const room = Math.floor((bytes - bare.length) / 4) * 4;
    const text = bare.replace('"content":""', `"content":"${'A'.repeat(room)}"`);
    return text.replace('"text":"Hello"', `"text":"Hello${' '.repeat(bytes - text.length)}"`);
  };
  const post = (body: string): HttpRequest => ({
    method: 'POST',
    path: '/v1/send',
    body,
    headers: { 'content-type': 'application/json' },
  });

  it('a body over the limit is 413 before it is parsed: not JSON at all, still 413 naming the limit', async () => {
    const answer = await routeHttpRequest(mailer, post(`{${'x'.repeat(MiB)}`));
    expect(answer.status).toBe(413);
    expect(answer.body).toEqual({
      ok: false,
      error: {
        code: 'BODY_TOO_LARGE',
        message: `the request body is ${MiB + 1} bytes, over the limit of ${MiB} bytes (http.maxBodyBytes)`,
        field: 'http.maxBodyBytes',
        limit: MiB,
        actual: MiB + 1,
      },
    });
    expect(budget.inFlight).toBe(0);
  });

  it('counts bytes, not characters', async () => {
    // 600 Ki characters of two bytes each: 1.2 MiB of UTF-8.
    const answer = await routeHttpRequest(mailer, post(JSON.stringify({ subject: 'é'.repeat(600 * KiB) })));
    expect(answer).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE', limit: MiB } } });
  });

  it('a body the budget has no room for while another is sent: 503 with Retry-After; then taken', async () => {
    const first = routeHttpRequest(mailer, post(messageOf(MiB - KiB, 'first')));
    // The first has reserved its share before it was parsed; the second would pass the 1.5 MiB.
    expect(budget.inFlight).toBe(MiB - KiB);
    const refused = await routeHttpRequest(mailer, post(messageOf(MiB - KiB, 'second')));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({
      ok: false,
      error: {
        code: 'SERVER_BUSY',
        field: 'http.maxInflightBytes',
        limit: 1.5 * MiB,
        inFlight: MiB - KiB,
        actual: MiB - KiB,
        retryAfterMs: 1000,
      },
    });
    expect((refused.body as { error: { message: string } }).error.message).toMatch(
      /over the limit of 1572864 bytes this server holds at once \(http\.maxInflightBytes\): retry after 1 s$/,
    );
    // A small one fits beside it.
    const small = await routeHttpRequest(mailer, post(messageOf(4 * KiB, 'small')));
    expect(small.status).toBe(200);
    expect((await first).status).toBe(200);
    expect(budget.inFlight).toBe(0);
    expect((await routeHttpRequest(mailer, post(messageOf(MiB - KiB, 'second again')))).status).toBe(200);
  });

  it('a send now takes the text out of the request once parsed; what failed releases its share too', async () => {
    const request = post(messageOf(64 * KiB, 'taken'));
    expect((await routeHttpRequest(mailer, request)).status).toBe(200);
    expect(request.body).toBe('');
    const invalid = await routeHttpRequest(mailer, post('{"from": "nobody"}'));
    expect(invalid.status).toBe(400);
    expect(budget.inFlight).toBe(0);
  });
});
