import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GmailEmulator, startGmailEmulator } from '../../emulators/gmail/index.ts';
import {
  captureOutput,
  copies,
  deliver,
  type GcpWorld,
  gcpConfig,
  message,
  messagePublished,
  type RunningFunction,
  startFunction,
  startGcpWorld,
} from './gcp-world.ts';

const SERVICE_ACCOUNT = 'mailroute-sender@mailroute-tests.iam.gserviceaccount.com';
const SENDER = 'app@example.com';

let world: GcpWorld;
let gmail: GmailEmulator;
let fn: RunningFunction;
let output: ReturnType<typeof captureOutput>;

const post = (body: unknown, options: { query?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${fn.url}/v1/send${options.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const answer = async (response: Response) => ({ status: response.status, body: await response.json() });

beforeAll(async () => {
  const key = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  [world, gmail] = await Promise.all([
    startGcpWorld(),
    startGmailEmulator({
      serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: key.publicKey }],
      delegatedUsers: [SENDER],
    }),
  ]);
  // The Gmail API entry, its key "mounted from Secret Manager" as GMAIL_SA_PRIVATE_KEY; route `api` uses it.
  vi.stubEnv('GMAIL_SA_PRIVATE_KEY', key.privateKey);
  const gmailApi = {
    name: 'gmail-api',
    provider: 'gmail',
    mode: 'api',
    endpoint: gmail.url,
    user: SENDER,
    serviceAccount: {
      clientEmail: SERVICE_ACCOUNT,
      privateKey: { env: 'GMAIL_SA_PRIVATE_KEY' },
      tokenUrl: gmail.tokenUrl,
    },
  };
  const config = gcpConfig(world.relay, world.busy);
  config.providers.push(gmailApi as never);
  config.routes.push({ name: 'api', providers: ['gmail-api'] });
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(config));
  vi.stubEnv('K_SERVICE', 'mailroute-http');
  vi.stubEnv('FUNCTION_TARGET', 'mailrouteHttp');
});
beforeEach(async () => {
  fn = await startFunction('mailrouteHttp');
  output = captureOutput();
});
afterEach(async () => {
  output.restore();
  await fn.close();
  world.pubsub.reset();
  gmail.reset();
});
afterAll(async () => {
  await gmail.close();
  await world.stop();
});

describe('HTTP function (mailrouteHttp) on the Functions Framework', () => {
  it('POST /v1/send sends now through the Gmail relay (200) or the Gmail API (route "api")', async () => {
    const relayed = await answer(await post(message('http relay')));
    expect(relayed).toMatchObject({
      status: 200,
      body: { ok: true, result: { name: 'relay', provider: 'gmail', mode: 'smtp', accepted: ['ann@example.net'] } },
    });
    expect(copies(world.relay, 'http relay')).toBe(1);

    const api = await answer(await post(message('http api', { route: 'api' })));
    expect(api).toMatchObject({
      status: 200,
      body: {
        ok: true,
        result: { name: 'gmail-api', provider: 'gmail', mode: 'api', providerMessageId: gmail.store[0]?.id },
      },
    });
    expect(gmail.store).toHaveLength(1);
    expect(gmail.store[0]).toMatchObject({ user: SENDER, headers: { subject: 'http api' } });

    const attempts = output.lines().filter((l) => l.message === 'attempt');
    expect(attempts.map((l) => [l.severity, l.trigger, l.name, l.outcome])).toEqual([
      ['INFO', 'http', 'relay', 'sent'],
      ['INFO', 'http', 'gmail-api', 'sent'],
    ]);
    expect(output.text()).not.toContain('ann@example.net');
  });

  it('answers 400 with field paths for an invalid message, and INVALID_JSON for a body that is not JSON', async () => {
    const invalid = await answer(await post(message('bad', { to: ['ann@example.net', 'not an address'] })));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({
      code: 'INVALID_MESSAGE',
      issues: [expect.objectContaining({ path: 'to[1]' })],
    });
    // A body that says it is not JSON is refused before it is parsed (415); one that says JSON and is not, by the
    // Functions Framework's own parser (400, its HTML page), before the function runs.
    const notJson = await answer(await post('{"to": ', { headers: { 'content-type': 'text/plain' } }));
    expect(notJson).toMatchObject({ status: 415, body: { ok: false, error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    expect((await post('{"to": ')).status).toBe(400);
    // The enqueue path checks before it publishes: nothing reaches the topic.
    expect((await post(message('bad', { to: 'nope' }), { query: '?mode=enqueue' })).status).toBe(400);
    expect(world.pubsub.messages(world.sendTopic)).toEqual([]);
    expect(world.relay.received.filter((m) => m.raw.includes('Subject: bad'))).toEqual([]);
  });

  it('refuses what a page of another site can send: a text/plain body (415), a foreign Origin (403); sends nothing', async () => {
    // What a form or a no-cors fetch of any page sends: a body that looks like JSON, under a type no preflight guards.
    const body = JSON.stringify(message('gcp cross-site'));
    const plain = await answer(await post(body, { headers: { 'content-type': 'text/plain;charset=UTF-8' } }));
    expect(plain).toMatchObject({
      status: 415,
      body: { ok: false, error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('text/plain') } },
    });
    const foreign = await answer(await post(body, { headers: { origin: 'https://evil.example' } }));
    expect(foreign).toMatchObject({
      status: 403,
      body: {
        ok: false,
        error: { code: 'FORBIDDEN_ORIGIN', message: expect.stringContaining('https://evil.example') },
      },
    });
    expect((await post(body, { query: '?mode=enqueue', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    // No CORS unless configured: not even the preflight is answered as one.
    const preflight = await fetch(`${fn.url}/v1/send`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(world.relay.received.filter((m) => m.raw.includes('Subject: gcp cross-site'))).toEqual([]);
    expect(world.pubsub.messages(world.sendTopic)).toEqual([]);
    // The Host is Cloud Run's: not checked here (a custom domain or the run.app name alike).
    expect((await post(message('gcp any host'), { headers: { host: 'mailroute-abc-ew.a.run.app' } })).status).toBe(200);
  });

  it('enqueue mode publishes to the send topic (202 with the Pub/Sub message id); the queue function then sends it', async () => {
    const input = message('http enqueued', { idempotencyKey: 'signup-77' });
    const queued = await answer(await post(input, { query: '?mode=enqueue' }));
    expect(queued.status).toBe(202);
    const [stored] = world.pubsub.messages(world.sendTopic);
    expect(queued.body).toEqual({ ok: true, queued: true, queueMessageId: stored?.messageId });
    expect(stored).toMatchObject({ text: JSON.stringify(input), attributes: { idempotencyKey: 'signup-77' } });
    expect(copies(world.relay, 'http enqueued')).toBe(0);

    const viaPrefer = await post(message('http preferred'), { headers: { prefer: 'respond-async' } });
    expect(viaPrefer.status).toBe(202);
    expect(viaPrefer.headers.get('preference-applied')).toBe('respond-async');

    // Eventarc hands the published message to the queue function.
    const queue = await startFunction('mailrouteQueue');
    try {
      expect((await deliver(queue, messagePublished(stored!))).status).toBe(204);
    } finally {
      await queue.close();
    }
    expect(copies(world.relay, 'http enqueued')).toBe(1);
  });

  it('MAILROUTE_HTTP_MODE=enqueue makes enqueue the default; a Pub/Sub throttle is 429, a missing topic setting 500', async () => {
    vi.stubEnv('MAILROUTE_HTTP_MODE', 'enqueue');
    try {
      expect((await post(message('default enqueue'))).status).toBe(202);
      expect((await answer(await post(message('sent now'), { query: '?mode=send' }))).status).toBe(200);
      world.pubsub.faults.add({ status: 429, retryAfter: 4 });
      const throttled = await post(message('throttled'));
      expect(throttled.headers.get('retry-after')).toBe('4');
      expect(await answer(throttled)).toMatchObject({
        status: 429,
        body: { ok: false, error: { code: 'THROTTLED', provider: 'pubsub' } },
      });
      vi.stubEnv('MAILROUTE_SEND_TOPIC', '');
      const unset = await answer(await post(message('nowhere')));
      expect(unset).toMatchObject({
        status: 500,
        body: { ok: false, error: { code: 'CONFIGURATION', message: /MAILROUTE_SEND_TOPIC is not set/ } },
      });
    } finally {
      vi.stubEnv('MAILROUTE_HTTP_MODE', '');
      vi.stubEnv('MAILROUTE_SEND_TOPIC', world.sendTopic);
    }
    expect(world.pubsub.messages(world.sendTopic).map((m) => JSON.parse(m.text).subject)).toEqual(['default enqueue']);
  });

  it('GET /healthz lists the providers; other paths and methods are 404 and 405', async () => {
    expect(await answer(await fetch(`${fn.url}/healthz`))).toEqual({
      status: 200,
      body: { ok: true, providers: ['relay', 'busy', 'gmail-api'] },
    });
    expect((await fetch(`${fn.url}/v2/send`, { method: 'POST', body: '{}' })).status).toBe(404);
    const get = await fetch(`${fn.url}/v1/send`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
  });
});
