import { HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AzureQueueHost } from '../helpers/azure-queue-host.ts';
import {
  ACS_SMTP_SECRET,
  type AzureWorld,
  azureRoutingConfig,
  captureContextLogs,
  copies,
  message,
  peekJson,
  startAzureWorld,
} from './azure-world.ts';

type Http = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

let world: AzureWorld;
let queues: { send: string; failed: string };
let logs: ReturnType<typeof captureContextLogs>;

/** A new function instance (cold start): modules loaded afresh. */
async function coldHttp(): Promise<Http> {
  vi.resetModules();
  return (await import('../../functions/azure/http.ts')).httpApi;
}

/** A request as the host hands it over: the function app's own URL, routePrefix "" (host.json). */
function request(
  init: {
    method?: string;
    path?: string;
    body?: unknown;
    query?: Record<string, string>;
    headers?: Record<string, string>;
  } = {},
) {
  const { method = 'POST', path = '/v1/send', body, query, headers } = init;
  const url = new URL(`https://mailroute-test.azurewebsites.net${path}`);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return new HttpRequest({
    method,
    url: url.toString(),
    headers: { 'content-type': 'application/json', 'x-functions-key': 'key-checked-by-the-host', ...headers },
    ...(query ? { query } : {}),
    ...(body === undefined ? {} : { body: { string: typeof body === 'string' ? body : JSON.stringify(body) } }),
  });
}

async function call(http: Http, init: Parameters<typeof request>[0]) {
  const response = await http(request(init), logs.context());
  return {
    status: response.status,
    headers: response.headers as Record<string, string>,
    body: JSON.parse(String(response.body)),
  };
}

beforeAll(async () => {
  world = await startAzureWorld();
});
beforeEach(async () => {
  queues = await world.freshQueues();
  await world.freshTable();
  logs = captureContextLogs();
});
afterAll(() => world.stop());

describe('HTTP trigger', () => {
  it('POST /v1/send sends now: 200 with the result, one attempt line (masked)', async () => {
    const answer = await call(await coldHttp(), { body: message('http now') });
    expect(answer).toMatchObject({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { ok: true, result: { name: 'acs-smtp', provider: 'azure', mode: 'smtp', accepted: ['ann@example.net'] } },
    });
    expect(copies(world.primary, 'http now')).toBe(1);
    expect(logs.lines().filter((l) => l.message === 'attempt')).toEqual([
      expect.objectContaining({ trigger: 'http', name: 'acs-smtp', outcome: 'sent', level: 'information' }),
    ]);
    expect(logs.text()).not.toContain('ann@example.net');
  });

  it('answers an invalid message 400 with each field path, and text that is not JSON 400 too; sends nothing', async () => {
    const http = await coldHttp();
    const invalid = await call(http, {
      body: message('http invalid', { to: ['ann@example.net', 'not an address'], from: 'app' }),
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ code: 'INVALID_MESSAGE', retryable: false });
    expect(invalid.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['from', 'to[1]']);
    expect(await call(http, { body: '{"from": ' })).toMatchObject({
      status: 400,
      body: { ok: false, error: { code: 'INVALID_JSON', issues: [{ path: '' }] } },
    });
    // Enqueue mode checks before anything is queued: the same 400.
    const queued = await call(http, { body: message('x', { to: 'nope' }), query: { mode: 'enqueue' } });
    expect(queued).toMatchObject({ status: 400, body: { ok: false, error: { issues: [{ path: 'to' }] } } });
    expect(await peekJson(world.queues, queues.send)).toEqual([]);
    expect(copies(world.primary, 'http invalid')).toBe(0);
  });

  it('enqueue mode: 202 with the queue message id, the message base64 on the Azurite queue, then delivered by the queue function', async () => {
    const http = await coldHttp();
    const answer = await call(http, { body: message('http queued'), query: { mode: 'enqueue' } });
    expect(answer).toEqual({
      status: 202,
      headers: { 'content-type': 'application/json' },
      body: { ok: true, queued: true, queueMessageId: expect.any(String) },
    });
    const { peekedMessageItems } = await world.queues.getQueueClient(queues.send).peekMessages();
    expect(peekedMessageItems.map((m) => m.messageId)).toEqual([answer.body.queueMessageId]);
    expect(JSON.parse(Buffer.from(peekedMessageItems[0]!.messageText, 'base64').toString('utf8'))).toEqual(
      message('http queued'),
    );
    expect(copies(world.primary, 'http queued')).toBe(0);

    const { sendQueuedMessage } = await import('../../functions/azure/queue.ts');
    const host = new AzureQueueHost({ service: world.queues, queueName: queues.send, handler: sendQueuedMessage });
    await host.runUntilIdle();
    expect(copies(world.primary, 'http queued')).toBe(1);
  });

  it('Prefer: respond-async and MAILROUTE_HTTP_MODE=enqueue enqueue too; ?mode=send still sends now', async () => {
    const http = await coldHttp();
    const preferred = await call(http, { body: message('preferred'), headers: { prefer: 'respond-async' } });
    expect(preferred).toMatchObject({ status: 202, headers: { 'preference-applied': 'respond-async' } });
    vi.stubEnv('MAILROUTE_HTTP_MODE', 'enqueue');
    try {
      expect((await call(http, { body: message('by default') })).status).toBe(202);
      expect((await call(http, { body: message('sent now'), query: { mode: 'send' } })).status).toBe(200);
    } finally {
      vi.stubEnv('MAILROUTE_HTTP_MODE', '');
    }
    const subjects = (await peekJson(world.queues, queues.send)).map((m) => m.subject);
    expect(subjects).toEqual(['preferred', 'by default']);
    expect(copies(world.primary, 'sent now')).toBe(1);
  });

  it('refuses a message whose base64 text would pass 64 KiB: 413 naming the limit, nothing queued', async () => {
    // About 50 KB of JSON: under 64 KiB as text, about 67 KB once base64-encoded as the host expects.
    const big = message('too big for the queue', { text: 'x'.repeat(50_000) });
    const answer = await call(await coldHttp(), { body: big, query: { mode: 'enqueue' } });
    expect(answer.status).toBe(413);
    expect(answer.body.error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', limit: 65_536 });
    expect(answer.body.error.message).toMatch(/base64-encoded, is \d+ bytes, over the limit of 65536 bytes/);
    expect(await peekJson(world.queues, queues.send)).toEqual([]);
  });

  it('GET /healthz answers the provider entries', async () => {
    expect(await call(await coldHttp(), { method: 'GET', path: '/healthz' })).toMatchObject({
      status: 200,
      body: { ok: true, providers: ['acs-smtp', 'acs-api'] },
    });
  });

  it('idempotency in the Azure Table store named by the configuration: a retried request is a duplicate on another instance', async () => {
    // `store` in the configuration itself (no MAILROUTE_STORE_TABLE), with the storage connection as a secret reference.
    const tableName = await world.freshTable();
    vi.stubEnv('MAILROUTE_STORE_TABLE', '');
    const store = { type: 'azure-table', tableName, connectionString: { env: 'AzureWebJobsStorage' } };
    vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify({ ...azureRoutingConfig(world.primary), store }));
    try {
      const body = message('http keyed', { idempotencyKey: 'invoice-2026-0042' });
      const first = await call(await coldHttp(), { body });
      const again = await call(await coldHttp(), { body });
      expect([first.status, again.status]).toEqual([200, 200]);
      expect(again.body.result).toMatchObject({ duplicate: true, messageId: first.body.result.messageId });
      expect(copies(world.primary, 'http keyed')).toBe(1);
    } finally {
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(azureRoutingConfig(world.primary)));
    }
  });
});

describe('unexpected errors (a bug, forced here with a mock)', () => {
  it('are logged and answered 500 INTERNAL, as npm start does, without their text', async () => {
    const http = await coldHttp();
    const { Mailer } = await import('../../core/mailer.ts');
    const send = vi.spyOn(Mailer.prototype, 'send').mockRejectedValue(new TypeError('cannot read x of undefined'));
    try {
      expect(await call(http, { body: message('bug') })).toEqual({
        status: 500,
        headers: { 'content-type': 'application/json' },
        body: { ok: false, error: { name: 'Error', code: 'INTERNAL', message: 'internal error' } },
      });
    } finally {
      send.mockRestore();
    }
    expect(logs.lines().find((l) => l.message === 'invocation failed')).toMatchObject({
      level: 'error',
      error: { name: 'TypeError', message: 'cannot read x of undefined' },
    });
  });
});

describe('configuration errors at cold start: 500 naming what to fix, and the next request tries again', () => {
  it('names a Key Vault reference the platform could not resolve, and an AWS secret reference', async () => {
    const config = azureRoutingConfig(world.primary);
    config.providers[1] = { ...config.providers[1]!, connectionString: { ssm: '/mailroute/acs' } } as never;
    vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(config));
    vi.stubEnv(
      'MR_ACS_SMTP_SECRET',
      '@Microsoft.KeyVault(SecretUri=https://mailroute-kv.vault.azure.net/secrets/acs-smtp/)',
    );
    const http = await coldHttp();
    try {
      const answer = await call(http, { body: message('never sent') });
      expect(answer.status).toBe(500);
      expect(answer.body.error.issues).toEqual([
        {
          path: 'providers[0].entra.clientSecret',
          message: expect.stringMatching(
            /MR_ACS_SMTP_SECRET is a Key Vault reference the platform could not resolve.*Key Vault Secrets User/,
          ),
        },
        {
          path: 'providers[1].connectionString',
          message: expect.stringMatching(/SSM parameter \/mailroute\/acs cannot be read on Azure/),
        },
      ]);
    } finally {
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(azureRoutingConfig(world.primary)));
      vi.stubEnv('MR_ACS_SMTP_SECRET', ACS_SMTP_SECRET);
    }
    expect(logs.lines().find((l) => l.message === 'invocation failed')).toMatchObject({
      level: 'error',
      error: { code: 'CONFIGURATION' },
    });
    // A failed cold start is not kept: once the settings are fixed, the same instance sends.
    expect((await call(http, { body: message('sent after fix') })).status).toBe(200);
    expect(copies(world.primary, 'never sent')).toBe(0);
  });

  it('names MAILROUTE_STORE_TABLE when it is not an Azure table name, and MAILROUTE_CONFIG when it is missing', async () => {
    vi.stubEnv('MAILROUTE_STORE_TABLE', 'mailroute-state');
    const answer = await call(await coldHttp(), { body: message('never') });
    expect(answer).toMatchObject({
      status: 500,
      body: { ok: false, error: { issues: [{ path: 'MAILROUTE_STORE_TABLE' }] } },
    });
    vi.stubEnv('MAILROUTE_CONFIG', '');
    const none = await call(await coldHttp(), { body: message('never') });
    expect(none).toMatchObject({ status: 500, body: { error: { issues: [{ path: 'MAILROUTE_CONFIG' }] } } });
    vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(azureRoutingConfig(world.primary)));
  });
});
