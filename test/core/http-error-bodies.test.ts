import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, ThrottledError } from '../../core/errors.ts';
import { errorToHttp } from '../../core/runtime/http-api.ts';
import { type HttpRequest, routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { mailerFor } from '../helpers/mailer.ts';

const mailer = mailerFor({
  name: 'local',
  provider: 'local',
  mode: 'api',
  outboxDir: mkdtempSync(join(tmpdir(), 'mr-http-errors-')),
});
afterAll(() => mailer.close());

const JSON_TYPE = { 'content-type': 'application/json' };
const request = (over: Partial<HttpRequest>): HttpRequest => ({
  method: 'POST',
  path: '/v1/send',
  body: '',
  headers: JSON_TYPE,
  ...over,
});
const good = JSON.stringify({ from: 'a@example.com', to: 'b@example.com', subject: 'Hi', text: 'Hello' });

describe('HTTP error bodies', () => {
  it('carry ok: false, as successes carry ok: true', async () => {
    const cases: [string, HttpRequest, number][] = [
      ['an unknown path', request({ path: '/v2/send' }), 404],
      ['a GET on /v1/send', request({ method: 'GET' }), 405],
      ['an unknown mode', request({ body: good, query: { mode: 'later' } }), 400],
      ['a body that is not JSON', request({ body: '{"from": ' }), 400],
      ['an invalid message', request({ body: JSON.stringify({ to: 'b@example.com' }) }), 400],
      ['an invalid message to enqueue', request({ body: '{}', query: { mode: 'enqueue' } }), 400],
      ['enqueue without a queue', request({ body: good, query: { mode: 'enqueue' } }), 500],
      ['an unknown event source', request({ path: '/v1/events/sendgrid', body: '{}' }), 404],
      ['a GET on an event source', request({ method: 'GET', path: '/v1/events/ses' }), 405],
      ['a body that is not JSON by its type', request({ body: good, headers: { 'content-type': 'text/plain' } }), 415],
      [
        'a page of another site',
        request({ body: good, headers: { ...JSON_TYPE, origin: 'https://evil.example' } }),
        403,
      ],
    ];
    for (const [what, req, status] of cases) {
      const answer = await routeHttpRequest(mailer, req);
      expect(answer.status, what).toBe(status);
      expect(answer.body, what).toMatchObject({ ok: false, error: { code: expect.any(String) } });
    }
    const sent = await routeHttpRequest(mailer, request({ body: good }));
    expect(sent).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('errorToHttp answers ok: false for the project errors and for anything else', () => {
    expect(errorToHttp(new ThrottledError('slow down', { retryAfterMs: 1000 })).body).toMatchObject({
      ok: false,
      error: { code: 'THROTTLED', message: 'slow down' },
    });
    expect(errorToHttp(new ConfigurationError('no queue')).body).toMatchObject({ ok: false });
    expect(errorToHttp(new TypeError('a bug'))).toEqual({
      status: 500,
      headers: {},
      body: { ok: false, error: { name: 'Error', code: 'INTERNAL', message: 'internal error' } },
    });
  });
});
