import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import {
  type AwsWorld,
  captureOutput,
  copies,
  httpEvent,
  lambdaContext,
  message,
  routingConfig,
  SMTP_PASSWORD,
  SMTP_USER,
  startAwsWorld,
} from './aws-lambda.ts';
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

// One-click unsubscribe on AWS: the events function's URL (public, for SNS and the links) serves
// /v1/unsubscribe and /v1/events/ only; the http function (IAM-only URL) serves it too. Driven as Lambda drives
// them, with function URL events; the suppression list is in the DynamoDB state table (dynalite).

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

let world: AwsWorld;
let output: ReturnType<typeof captureOutput>;

async function cold(): Promise<{ events: Handler; http: Handler }> {
  vi.resetModules();
  const events = (await import('../../functions/aws/events.ts')).eventsHandler();
  const http = (await import('../../functions/aws/http.ts')).handler;
  return { events: events as unknown as Handler, http: http as unknown as Handler };
}
/** The container's mailer, the one the handlers just used (same module graph). */
const containerMailer = async (): Promise<Mailer> => (await import('../../functions/aws/config.ts')).mailer();

const written = (result: APIGatewayProxyStructuredResultV2): WrittenAnswer => ({
  status: Number(result.statusCode),
  headers: Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
  body: String(result.body),
});

async function call(
  handler: Handler,
  request: { method?: string; path?: string; token?: string; body?: string; headers?: Record<string, string> },
): Promise<WrittenAnswer> {
  const { method = 'POST', path = '/v1/unsubscribe', token, body = ONE_CLICK, headers = FORM } = request;
  const event = httpEvent('function-url', { method, path, body, headers, ...(token ? { query: { token } } : {}) });
  return written(await handler(event, lambdaContext('mailroute-events')));
}

beforeAll(async () => {
  world = await startAwsWorld();
  vi.stubEnv('MR_SMTP_USER', SMTP_USER);
  vi.stubEnv('MR_SMTP_PASS', SMTP_PASSWORD);
  vi.stubEnv(UNSUB_KEY_VARIABLE, UNSUB_KEY);
  const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
  const config = { ...routingConfig(world.primary, world.busy, credentials), unsubscribe: UNSUBSCRIBE };
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(config));
  vi.stubEnv('MAILROUTE_SNS_TOPIC_ARNS', 'arn:aws:sns:us-east-1:123456789012:mailroute-dev-ses-events');
});
beforeEach(async () => {
  await world.freshTable();
  output = captureOutput();
});
afterEach(() => output.restore());
afterAll(() => world.stop());

describe('the events function URL (public): GET|POST /v1/unsubscribe', () => {
  it('a POST with a valid token puts the recipient on the suppression list in the state table', async () => {
    const { events } = await cold();
    expectUnsubscribed(await call(events, { token: tokenFor('ann@example.net') }));
    const { suppressions } = (await containerMailer()).events;
    expect(await suppressions.get('ann@example.net')).toMatchObject({
      address: 'ann@example.net',
      reason: 'unsubscribed',
      provider: 'mailroute',
    });
    // A refused unsubscribe is no delivery event: nothing counted as EventsRefused.
    await call(events, { token: forgedTokenFor('bob@example.net') });
    expect(output.lines().filter((l) => 'EventsRefused' in l)).toEqual([]);
  });

  it('a GET from a browser answers the confirmation page as HTML, and unsubscribes no one', async () => {
    const { events } = await cold();
    const token = tokenFor('carol@example.net');
    const page = await call(events, { method: 'GET', token, body: '', headers: HTML });
    expectPage(page);
    expect(page.body).toContain(`<form method="post" action="?token=${token}">`);
    expect(page.headers['content-security-policy']).toContain("form-action 'self'");
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
    // The button's POST, as a browser sends it: the result page, HTML again.
    const done = await call(events, { token, headers: { ...FORM, ...HTML } });
    expectPage(done);
    expect(done.body).toContain('is unsubscribed');
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeDefined();
  });

  it('a forged token is refused 403 with ok: false, and changes nothing', async () => {
    const { events } = await cold();
    expectForgedRefused(await call(events, { token: forgedTokenFor('dave@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('dave@example.net')).toBeUndefined();
  });

  it('still never reaches /v1/send (404, nothing sent), nor /healthz', async () => {
    const { events } = await cold();
    const send = await call(events, {
      path: '/v1/send',
      body: JSON.stringify(message('through the public URL')),
      headers: { 'content-type': 'application/json' },
    });
    expect(send.status).toBe(404);
    expect(json(send)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(copies(world.primary, 'through the public URL')).toBe(0);
    expect((await call(events, { method: 'GET', path: '/healthz', body: '' })).status).toBe(404);
    // Only the exact path: a prefix of it, or a path under it, is not the link.
    expect((await call(events, { path: '/v1/unsubscribe/x', token: tokenFor('erin@example.net') })).status).toBe(404);
  });
});

describe('the http function (IAM-only URL) serves the same route and the same bytes', () => {
  it('POST unsubscribes; GET answers HTML, not a JSON string', async () => {
    const { http } = await cold();
    expectUnsubscribed(await call(http, { token: tokenFor('frank@example.net') }));
    expect(await (await containerMailer()).events.suppressions.get('frank@example.net')).toMatchObject({
      reason: 'unsubscribed',
    });
    expectPage(await call(http, { method: 'GET', token: tokenFor('grace@example.net'), body: '', headers: HTML }));
    expectForgedRefused(await call(http, { token: forgedTokenFor('grace@example.net') }));
  });
});
