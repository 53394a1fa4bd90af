import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import {
  captureOutput,
  copies,
  type GcpWorld,
  gcpConfig,
  message,
  type RunningFunction,
  startFunction,
  startGcpWorld,
} from './gcp-world.ts';
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

// One-click unsubscribe on Google Cloud: the IAM-only mailrouteHttp stays closed; the optional public entry
// mailrouteUnsubscribe (infra/gcp public_unsubscribe) serves /v1/unsubscribe only. Both served by the Functions
// Framework's own server, as the tests of the other entry points are.

let world: GcpWorld;
let output: ReturnType<typeof captureOutput>;
const running: RunningFunction[] = [];

async function start(name: 'mailrouteUnsubscribe' | 'mailrouteHttp'): Promise<RunningFunction> {
  const fn = await startFunction(name);
  running.push(fn);
  return fn;
}
const containerMailer = async (): Promise<Mailer> => (await import('../../functions/gcp/config.ts')).mailer();

async function call(
  fn: RunningFunction,
  init: { method?: string; path?: string; token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<WrittenAnswer> {
  const { method = 'POST', path = '/v1/unsubscribe', token, body = ONE_CLICK, headers = FORM } = init;
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const response = await fetch(`${fn.url}${path}${query}`, {
    method,
    headers,
    ...(method === 'GET' ? {} : { body }),
  });
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

beforeAll(async () => {
  world = await startGcpWorld();
  vi.stubEnv(UNSUB_KEY_VARIABLE, UNSUB_KEY);
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(gcpConfig(world.relay, world.busy, { unsubscribe: UNSUBSCRIBE })));
  vi.stubEnv('K_SERVICE', 'mailroute-unsubscribe');
  vi.stubEnv('FUNCTION_TARGET', 'mailrouteUnsubscribe');
});
beforeEach(() => {
  output = captureOutput();
});
afterEach(async () => {
  output.restore();
  await Promise.all(running.splice(0).map((fn) => fn.close()));
});
afterAll(() => world.stop());

describe('the public entry mailrouteUnsubscribe', () => {
  it('a POST with a valid token puts the recipient on the suppression list', async () => {
    const fn = await start('mailrouteUnsubscribe');
    expectUnsubscribed(await call(fn, { token: tokenFor('ann@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('ann@example.net')).toMatchObject({
      reason: 'unsubscribed',
      provider: 'mailroute',
    });
  });

  it('a GET from a browser answers HTML (text/html, a document), not a JSON string', async () => {
    const fn = await start('mailrouteUnsubscribe');
    const page = await call(fn, { method: 'GET', token: tokenFor('bob@example.net'), headers: HTML });
    expectPage(page);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(await (await containerMailer()).events.suppressions.get('bob@example.net')).toBeUndefined();
  });

  it('a forged token is refused 403 with ok: false, and changes nothing', async () => {
    const fn = await start('mailrouteUnsubscribe');
    expectForgedRefused(await call(fn, { token: forgedTokenFor('carol@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
  });

  it('serves nothing else: /v1/send, /healthz and the events are 404, nothing sent or published', async () => {
    const fn = await start('mailrouteUnsubscribe');
    const body = JSON.stringify(message('through the public entry'));
    for (const query of ['', '?mode=enqueue']) {
      const send = await call(fn, { path: `/v1/send${query}`, body, headers: { 'content-type': 'application/json' } });
      expect(send.status).toBe(404);
      expect(json(send)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    expect(copies(world.relay, 'through the public entry')).toBe(0);
    expect(world.pubsub.messages(world.sendTopic)).toEqual([]);
    expect((await call(fn, { method: 'GET', path: '/healthz' })).status).toBe(404);
    expect((await call(fn, { path: '/v1/events/dsn', body: 'x' })).status).toBe(404);
  });
});

describe('the IAM-only mailrouteHttp serves the same route and the same bytes', () => {
  it('GET with Accept text/html is HTML, not a JSON string; POST unsubscribes', async () => {
    const fn = await start('mailrouteHttp');
    expectPage(await call(fn, { method: 'GET', token: tokenFor('dave@example.net'), headers: HTML }));
    expectUnsubscribed(await call(fn, { token: tokenFor('dave@example.net') }));
  });
});
