import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import { type FnResponse, gatewayHeaders, type OciWorld, routingConfig, startOciWorld } from './oci-world.ts';
import {
  expectForgedRefused,
  expectPage,
  expectUnsubscribed,
  FORM,
  forgedTokenFor,
  HTML,
  ONE_CLICK,
  tokenFor,
  UNSUB_KEY,
  UNSUB_KEY_VARIABLE,
  UNSUBSCRIBE,
  type WrittenAnswer,
} from './unsubscribe-links.ts';

// One-click unsubscribe on OCI: the API Gateway's one anonymous route (infra/oci) reaches the function as any
// gateway request does, through the real fdk listener; the status comes back as Fn-Http-Status, the headers as
// Fn-Http-H-*, the content type as the response's own. That /v1/send keeps its JWT is the gateway's routes
// (test/infra/oci-terraform.test.ts).

let world: OciWorld;

const containerMailer = async (): Promise<Mailer> => (await import('../../functions/oci/config.ts')).mailer();

/** What the gateway would answer: Fn-Http-Status, the Fn-Http-H-* headers, Content-Type, the body. */
function asGateway(response: FnResponse): WrittenAnswer {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (name.startsWith('fn-http-h-')) headers[name.slice('fn-http-h-'.length)] = text;
  }
  headers['content-type'] = response.headers['content-type'] as string | undefined;
  return { status: Number(response.headers['fn-http-status']), headers, body: response.body };
}

async function call(
  init: { method?: string; token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<WrittenAnswer> {
  const { method = 'POST', token, body = ONE_CLICK, headers = FORM } = init;
  const url = `/mailroute/v1/unsubscribe${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  return asGateway(await world.invoke(method === 'GET' ? '' : body, gatewayHeaders(method, url, headers)));
}

beforeAll(async () => {
  world = await startOciWorld();
  vi.stubEnv(UNSUB_KEY_VARIABLE, UNSUB_KEY);
  vi.stubEnv('MAILROUTE_HTTP_PATH_PREFIX', '/mailroute');
  vi.stubEnv(
    'MAILROUTE_CONFIG',
    JSON.stringify({ ...routingConfig(world.primary, world.busy), unsubscribe: UNSUBSCRIBE }),
  );
});
beforeEach(async () => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  await world.startFunction();
});
afterEach(() => {
  world.stopFunction();
  vi.restoreAllMocks();
});
afterAll(() => world.stop());

describe('OCI function: GET|POST <prefix>/v1/unsubscribe from the API Gateway', () => {
  it('a POST with a valid token puts the recipient on the suppression list', async () => {
    expectUnsubscribed(await call({ token: tokenFor('ann@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('ann@example.net')).toMatchObject({
      reason: 'unsubscribed',
      provider: 'mailroute',
    });
  });

  it('a GET from a browser answers HTML: the page as it is under text/html, not a JSON string', async () => {
    const page = await call({ method: 'GET', token: tokenFor('bob@example.net'), headers: HTML });
    expectPage(page);
    expect(page.headers['content-security-policy']).toContain("form-action 'self'");
    expect(await (await containerMailer()).events.suppressions.get('bob@example.net')).toBeUndefined();
  });

  it('a forged token is refused 403 with ok: false, and changes nothing', async () => {
    expectForgedRefused(await call({ token: forgedTokenFor('carol@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
  });
});
