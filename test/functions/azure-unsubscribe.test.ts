import { app, HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import { HTTP_ROUTES, PUBLIC_HTTP_ROUTES } from '../../functions/azure/bindings.ts';
import {
  type AzureWorld,
  azureRoutingConfig,
  captureContextLogs,
  copies,
  message,
  startAzureWorld,
} from './azure-world.ts';
import {
  expectForgedRefused,
  expectPage,
  expectUnsubscribed,
  FORM,
  forgedTokenFor,
  HTML,
  json,
  ONE_CLICK,
  tokenFor,
  UNSUB_KEY,
  UNSUB_KEY_VARIABLE,
  UNSUBSCRIBE,
  type WrittenAnswer,
} from './unsubscribe-links.ts';

// One-click unsubscribe on Azure: `http-unsubscribe`, the one anonymous route (no function key), handled by
// `unsubscribeApi`, which serves /v1/unsubscribe only. Driven as the host drives it, the suppression list in the
// Azurite state table.

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

let world: AzureWorld;
let logs: ReturnType<typeof captureContextLogs>;

/** A new instance; also what it registered with the host: name → the options given to app.http. */
async function cold() {
  vi.resetModules();
  const registered = new Map<string, { route?: string; methods?: string[]; authLevel?: string; handler: Handler }>();
  const spy = vi.spyOn(app, 'http').mockImplementation((name, options) => {
    registered.set(name, options as never);
  });
  try {
    const module = await import('../../functions/azure/http.ts');
    return { unsubscribe: module.unsubscribeApi as Handler, http: module.httpApi as Handler, registered };
  } finally {
    spy.mockRestore();
  }
}
const containerMailer = async (): Promise<Mailer> => (await import('../../functions/azure/config.ts')).mailer();

/** A request as the host hands it over, with no function key. */
async function call(
  handler: Handler,
  init: { method?: string; path?: string; token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<WrittenAnswer> {
  const { method = 'POST', path = '/v1/unsubscribe', token, body = ONE_CLICK, headers = FORM } = init;
  const url = new URL(`https://mailroute-test.azurewebsites.net${path}`);
  if (token) url.searchParams.set('token', token);
  const request = new HttpRequest({
    method,
    url: url.toString(),
    headers,
    ...(token ? { query: { token } } : {}),
    ...(method === 'GET' ? {} : { body: { string: body } }),
  });
  const response = await handler(request, logs.context('http-unsubscribe'));
  return {
    status: Number(response.status),
    headers: response.headers as Record<string, string>,
    body: String(response.body),
  };
}

beforeAll(async () => {
  world = await startAzureWorld();
  vi.stubEnv(UNSUB_KEY_VARIABLE, UNSUB_KEY);
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify({ ...azureRoutingConfig(world.primary), unsubscribe: UNSUBSCRIBE }));
});
beforeEach(async () => {
  await world.freshTable();
  logs = captureContextLogs();
});
afterAll(() => world.stop());

describe('the anonymous route http-unsubscribe', () => {
  it('is the only anonymous registration, GET and POST on v1/unsubscribe, handled by unsubscribeApi', async () => {
    const { registered, unsubscribe, http } = await cold();
    const anonymous = [...registered].filter(([, options]) => options.authLevel === 'anonymous');
    expect(anonymous.map(([name, { route, methods, handler }]) => [name, route, methods, handler])).toEqual([
      ['http-unsubscribe', 'v1/unsubscribe', ['GET', 'POST'], unsubscribe],
    ]);
    // Every other route keeps its function key and the full API handler.
    for (const name of Object.keys(HTTP_ROUTES)) {
      expect(registered.get(name)).toMatchObject({ authLevel: 'function', handler: http });
    }
    expect([...registered.keys()].sort()).toEqual(
      [...Object.keys(HTTP_ROUTES), ...Object.keys(PUBLIC_HTTP_ROUTES)].sort(),
    );
  });

  it('a POST with a valid token puts the recipient on the suppression list', async () => {
    const { unsubscribe } = await cold();
    expectUnsubscribed(await call(unsubscribe, { token: tokenFor('ann@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('ann@example.net')).toMatchObject({
      reason: 'unsubscribed',
      provider: 'mailroute',
    });
  });

  it('a GET from a browser answers HTML (text/html, a document), not a JSON string', async () => {
    const { unsubscribe } = await cold();
    const page = await call(unsubscribe, { method: 'GET', token: tokenFor('bob@example.net'), headers: HTML });
    expectPage(page);
    expect(await (await containerMailer()).events.suppressions.get('bob@example.net')).toBeUndefined();
  });

  it('a forged token is refused 403 with ok: false, and changes nothing', async () => {
    const { unsubscribe } = await cold();
    expectForgedRefused(await call(unsubscribe, { token: forgedTokenFor('carol@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
  });

  it('its handler never serves /v1/send, /healthz or the events, whatever reaches it: 404, nothing sent', async () => {
    const { unsubscribe } = await cold();
    const body = JSON.stringify(message('through the anonymous route'));
    const send = await call(unsubscribe, { path: '/v1/send', body, headers: { 'content-type': 'application/json' } });
    expect(send.status).toBe(404);
    expect(json(send)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(copies(world.primary, 'through the anonymous route')).toBe(0);
    expect((await call(unsubscribe, { method: 'GET', path: '/healthz' })).status).toBe(404);
    expect((await call(unsubscribe, { path: '/v1/events/dsn', body: 'x' })).status).toBe(404);
  });
});

describe('the keyed routes (httpApi) serve the same bytes', () => {
  it('GET /v1/unsubscribe with Accept text/html is HTML there too', async () => {
    const { http } = await cold();
    expectPage(await call(http, { method: 'GET', token: tokenFor('dave@example.net'), headers: HTML }));
  });
});
