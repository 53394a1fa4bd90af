import { createHash } from 'node:crypto';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SendAnswer } from '../../core/runtime/send-payload.ts';
import {
  type AwsWorld,
  captureOutput,
  copies,
  emfByProvider,
  httpEvent,
  lambdaContext,
  message,
  routingConfig,
  SES_MESSAGE_ID,
  SMTP_PASSWORD,
  SMTP_USER,
  sqsEvent,
  sqsRecord,
  startAwsWorld,
} from './aws-lambda.ts';

type Invoke = (event: unknown, context: Context) => Promise<SendAnswer>;
type Http = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
type Queue = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

let world: AwsWorld;
let output: ReturnType<typeof captureOutput>;
const SEND_QUEUE = 'mailroute-send';

async function cold() {
  vi.resetModules();
  return {
    invoke: (await import('../../functions/aws/invoke.ts')).handler as unknown as Invoke,
    http: (await import('../../functions/aws/http.ts')).handler as unknown as Http,
    queue: (await import('../../functions/aws/queue.ts')).handler as unknown as Queue,
  };
}

const parsed = (result: APIGatewayProxyStructuredResultV2) => JSON.parse(String(result.body));

beforeAll(async () => {
  world = await startAwsWorld();
  vi.stubEnv('MR_SMTP_USER', SMTP_USER);
  vi.stubEnv('MR_SMTP_PASS', SMTP_PASSWORD);
  const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(routingConfig(world.primary, world.busy, credentials)));
  vi.stubEnv('MAILROUTE_QUEUE_URL', world.sqs.createQueue(SEND_QUEUE));
  vi.stubEnv('MAILROUTE_DLQ_URL', world.sqs.createQueue('mailroute-dead-letters'));
});
beforeEach(async () => {
  await world.freshTable();
  output = captureOutput();
});
afterEach(() => {
  output.restore();
  world.sqs.messages(SEND_QUEUE).splice(0);
});
afterAll(() => world.stop());

describe('direct invoke handler', () => {
  it('sends the message given as the event and answers { ok: true, result }', async () => {
    const { invoke } = await cold();
    const answer = await invoke(message('invoked'), lambdaContext('mailroute-invoke'));
    expect(answer).toMatchObject({
      ok: true,
      result: {
        name: 'primary',
        provider: 'ses',
        mode: 'smtp',
        providerMessageId: SES_MESSAGE_ID,
        accepted: ['ann@example.net'],
      },
    });
    expect(copies(world.primary, 'invoked')).toBe(1);
  });

  it('answers an invalid message with { ok: false, error } naming each field, and sends nothing', async () => {
    const { invoke } = await cold();
    const answer = await invoke(
      message('invoked invalid', { to: ['ann@example.net', 'not an address'] }),
      lambdaContext('mailroute-invoke'),
    );
    expect(answer).toEqual({
      ok: false,
      error: expect.objectContaining({
        name: 'InvalidMessageError',
        code: 'INVALID_MESSAGE',
        retryable: false,
        issues: [{ path: 'to[1]', message: '"not an address" is not an email address (local@domain)' }],
      }),
    });
    // A payload sent as JSON text is parsed, and text that is not JSON is answered, not thrown.
    expect(await invoke('{"from": ', lambdaContext('mailroute-invoke'))).toMatchObject({
      ok: false,
      error: { code: 'INVALID_JSON', issues: [{ path: '' }] },
    });
    expect(copies(world.primary, 'invoked invalid')).toBe(0);
  });

  it('fails over from a throttled provider and counts it: throttled and failover on busy, sent on primary', async () => {
    const { invoke } = await cold();
    const answer = await invoke(message('invoked failover', { route: 'fallback' }), lambdaContext('mailroute-invoke'));
    expect(answer.ok && answer.result.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['busy', 'failed', 'THROTTLED'],
      ['primary', 'sent', undefined],
    ]);
    const lines = output.lines();
    const emf = emfByProvider(lines);
    expect(emf.busy).toMatchObject({ sent: 0, failed: 0, throttled: 1, failover: 1 });
    expect(emf.primary).toMatchObject({ sent: 1, failed: 0, throttled: 0, failover: 0 });
    expect(lines.filter((l) => l.message === 'attempt').map((l) => [l.trigger, l.name, l.outcome])).toEqual([
      ['invoke', 'busy', 'failed'],
      ['invoke', 'primary', 'sent'],
    ]);
  });

  it('answers a broken configuration at cold start with the field to fix, and recovers once it is fixed', async () => {
    vi.stubEnv('MAILROUTE_CONFIG', '{"providers":[{"provider":"ses","mode":"api","region":"Ireland"}]}');
    const { invoke } = await cold();
    try {
      expect(await invoke(message('never sent'), lambdaContext('mailroute-invoke'))).toMatchObject({
        ok: false,
        error: { code: 'CONFIGURATION', issues: [{ path: 'providers[0].region' }] },
      });
    } finally {
      const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(routingConfig(world.primary, world.busy, credentials)));
    }
    expect(output.lines().find((l) => l.message === 'invocation failed')).toMatchObject({
      level: 'ERROR',
      error: { code: 'CONFIGURATION', issues: [{ path: 'providers[0].region' }] },
    });
    // A failed cold start is not kept: the same container tries again.
    expect(await invoke(message('sent after fix'), lambdaContext('mailroute-invoke'))).toMatchObject({ ok: true });
    expect(copies(world.primary, 'never sent')).toBe(0);
  });
});

describe('unexpected errors (a bug, forced here with a mock)', () => {
  it('invoke throws it (the caller sees a function error) and logs it; HTTP answers 500 INTERNAL as npm start does', async () => {
    const { invoke, http } = await cold();
    const { Mailer } = await import('../../core/mailer.ts');
    const send = vi.spyOn(Mailer.prototype, 'send').mockRejectedValue(new TypeError('cannot read x of undefined'));
    try {
      await expect(invoke(message('bug'), lambdaContext('mailroute-invoke'))).rejects.toThrow('cannot read x');
      const result = await http(httpEvent('function-url', { body: JSON.stringify(message('bug')) }), lambdaContext());
      expect([result.statusCode, parsed(result)]).toEqual([
        500,
        { ok: false, error: { name: 'Error', code: 'INTERNAL', message: 'internal error' } },
      ]);
    } finally {
      send.mockRestore();
    }
    const failures = output.lines().filter((l) => l.message === 'invocation failed');
    expect(failures.map((l) => (l.error as { name: string; message: string }).message)).toEqual([
      'cannot read x of undefined',
      'cannot read x of undefined',
    ]);
  });
});

describe.each(['api-gateway', 'function-url'] as const)('HTTP handler, %s event', (kind) => {
  const subject = (what: string) => `${kind} ${what}`;

  it('POST /v1/send sends now: 200 with the result (a base64-encoded body too)', async () => {
    const { http } = await cold();
    const plain = await http(
      httpEvent(kind, { body: JSON.stringify(message(subject('now'))) }),
      lambdaContext('mailroute-http'),
    );
    expect(plain.statusCode).toBe(200);
    expect(plain.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(parsed(plain)).toMatchObject({ ok: true, result: { name: 'primary', providerMessageId: SES_MESSAGE_ID } });
    const encoded = await http(
      httpEvent(kind, { body: JSON.stringify(message(subject('base64'))), base64: true }),
      lambdaContext('mailroute-http'),
    );
    expect(encoded.statusCode).toBe(200);
    expect([copies(world.primary, subject('now')), copies(world.primary, subject('base64'))]).toEqual([1, 1]);
  });

  it('400 with field paths for a body that is not JSON and for an invalid message', async () => {
    const { http } = await cold();
    const notJson = await http(httpEvent(kind, { body: '{"from": "app@' }), lambdaContext('mailroute-http'));
    expect(notJson.statusCode).toBe(400);
    expect(parsed(notJson)).toMatchObject({ ok: false, error: { code: 'INVALID_JSON', issues: [{ path: '' }] } });
    const invalid = await http(
      httpEvent(kind, { body: JSON.stringify(message('a\r\nBcc: eve@example.org')) }),
      lambdaContext('mailroute-http'),
    );
    expect(invalid.statusCode).toBe(400);
    expect(parsed(invalid)).toMatchObject({
      error: {
        code: 'INVALID_MESSAGE',
        issues: [{ path: 'subject', message: 'contains a line break or NUL, which could inject a header' }],
      },
    });
    expect(world.primary.received.filter((m) => m.envelope.to.includes('eve@example.org'))).toHaveLength(0);
  });

  it('?mode=enqueue checks the message, puts it on the send queue and answers 202 with the SQS message id', async () => {
    const { http } = await cold();
    const body = JSON.stringify(message(subject('enqueued')));
    const result = await http(httpEvent(kind, { body, query: { mode: 'enqueue' } }), lambdaContext('mailroute-http'));
    expect(result.statusCode).toBe(202);
    const answer = parsed(result);
    expect(answer).toEqual({ ok: true, queued: true, queueMessageId: expect.any(String) });
    expect(world.sqs.messages(SEND_QUEUE).map((m) => [m.MessageId, m.Body])).toEqual([[answer.queueMessageId, body]]);
    expect(copies(world.primary, subject('enqueued'))).toBe(0);

    // An invalid message is refused before it reaches the queue.
    const invalid = await http(
      httpEvent(kind, { body: JSON.stringify(message('no sender', { from: undefined })), query: { mode: 'enqueue' } }),
      lambdaContext('mailroute-http'),
    );
    expect(invalid.statusCode).toBe(400);
    expect(parsed(invalid)).toMatchObject({
      error: { code: 'INVALID_MESSAGE', issues: [{ path: 'from', message: 'is required' }] },
    });
    expect(world.sqs.messages(SEND_QUEUE)).toHaveLength(1);
  });

  it('Prefer: respond-async enqueues too, and the queue handler then sends the message once', async () => {
    const { http, queue } = await cold();
    const body = JSON.stringify(message(subject('async')));
    const result = await http(
      httpEvent(kind, { body, headers: { prefer: 'respond-async, wait=5' } }),
      lambdaContext('mailroute-http'),
    );
    expect(result.statusCode).toBe(202);
    expect(result.headers).toMatchObject({ 'preference-applied': 'respond-async' });
    // The consumer side: SQS hands the message over as a record of an event.
    const client = new SQSClient({});
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: process.env.MAILROUTE_QUEUE_URL, MaxNumberOfMessages: 10 }),
    );
    client.destroy();
    expect(Messages.map((m) => m.MessageId)).toEqual([parsed(result).queueMessageId]);
    const event = sqsEvent(...Messages.map((m) => sqsRecord(String(m.MessageId), String(m.Body))));
    expect(await queue(event, lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(await queue(event, lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(copies(world.primary, subject('async'))).toBe(1);
  });

  it('refuses what a page of another site can send: a text/plain body (415), a foreign Origin (403)', async () => {
    const { http } = await cold();
    const body = JSON.stringify(message(subject('cross-site')));
    // A form (enctype text/plain) or a no-cors fetch of any page: a JSON-looking body under a type no preflight guards.
    const plain = await http(
      httpEvent(kind, { body, headers: { 'content-type': 'text/plain;charset=UTF-8' } }),
      lambdaContext('mailroute-http'),
    );
    expect([plain.statusCode, parsed(plain)]).toEqual([
      415,
      {
        ok: false,
        error: {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: 'POST /v1/send takes Content-Type: application/json only, not "text/plain;charset=UTF-8"',
        },
      },
    ]);
    const queued = await http(
      httpEvent(kind, { body, query: { mode: 'enqueue' }, headers: { 'content-type': 'text/plain' } }),
      lambdaContext('mailroute-http'),
    );
    expect(queued.statusCode).toBe(415);
    const foreign = await http(
      httpEvent(kind, { body, headers: { origin: 'https://evil.example' } }),
      lambdaContext('mailroute-http'),
    );
    expect(foreign.statusCode).toBe(403);
    expect(parsed(foreign)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN_ORIGIN' } });
    expect(foreign.headers?.['access-control-allow-origin']).toBeUndefined();
    expect(copies(world.primary, subject('cross-site'))).toBe(0);
    expect(world.sqs.messages(SEND_QUEUE)).toHaveLength(0);

    // The platform's own host is not checked (API Gateway and function URLs route by it); its own origin is itself.
    const own = `https://${httpEvent(kind).headers.host}`;
    const same = await http(
      httpEvent(kind, { body: JSON.stringify(message(subject('same origin'))), headers: { origin: own } }),
      lambdaContext('mailroute-http'),
    );
    expect(same.statusCode).toBe(200);
    expect(copies(world.primary, subject('same origin'))).toBe(1);
  });

  it('CORS only for the configured origins (MAILROUTE_CORS_ORIGINS): their preflight and Allow-Origin', async () => {
    vi.stubEnv('MAILROUTE_CORS_ORIGINS', 'https://app.example.com');
    try {
      const { http } = await cold();
      const preflight = await http(
        httpEvent(kind, {
          method: 'OPTIONS',
          headers: {
            origin: 'https://app.example.com',
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type',
          },
        }),
        lambdaContext('mailroute-http'),
      );
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers).toMatchObject({
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': expect.stringContaining('content-type'),
        vary: 'origin',
      });
      const sent = await http(
        httpEvent(kind, {
          body: JSON.stringify(message(subject('cors'))),
          headers: { origin: 'https://app.example.com' },
        }),
        lambdaContext('mailroute-http'),
      );
      expect(sent.statusCode).toBe(200);
      expect(sent.headers).toMatchObject({ 'access-control-allow-origin': 'https://app.example.com' });
      const other = await http(
        httpEvent(kind, {
          body: JSON.stringify(message(subject('cors other'))),
          headers: { origin: 'https://other.example.com' },
        }),
        lambdaContext('mailroute-http'),
      );
      expect(other.statusCode).toBe(403);
      expect(copies(world.primary, subject('cors other'))).toBe(0);
    } finally {
      vi.stubEnv('MAILROUTE_CORS_ORIGINS', '');
    }
  });

  it('GET /healthz, 404 for another path, 405 for another method', async () => {
    const { http } = await cold();
    const health = await http(httpEvent(kind, { method: 'GET', path: '/healthz' }), lambdaContext('mailroute-http'));
    expect([health.statusCode, parsed(health)]).toEqual([200, { ok: true, providers: ['primary', 'busy'] }]);
    const missing = await http(httpEvent(kind, { path: '/v2/send' }), lambdaContext('mailroute-http'));
    expect(missing.statusCode).toBe(404);
    const wrong = await http(httpEvent(kind, { method: 'PUT' }), lambdaContext('mailroute-http'));
    expect([wrong.statusCode, wrong.headers?.allow]).toEqual([405, 'POST']);
  });
});

describe('HTTP handler settings', () => {
  it('MAILROUTE_HTTP_MODE=enqueue makes enqueue the default; ?mode=send still sends now', async () => {
    vi.stubEnv('MAILROUTE_HTTP_MODE', 'enqueue');
    try {
      const { http } = await cold();
      const queued = await http(
        httpEvent('function-url', { body: JSON.stringify(message('default enqueue')) }),
        lambdaContext('mailroute-http'),
      );
      expect(queued.statusCode).toBe(202);
      const now = await http(
        httpEvent('function-url', { body: JSON.stringify(message('forced send')), query: { mode: 'send' } }),
        lambdaContext('mailroute-http'),
      );
      expect(now.statusCode).toBe(200);
      const bad = await http(
        httpEvent('function-url', { body: '{}', query: { mode: 'later' } }),
        lambdaContext('mailroute-http'),
      );
      expect([bad.statusCode, parsed(bad).error.code]).toEqual([400, 'INVALID_MODE']);
    } finally {
      vi.stubEnv('MAILROUTE_HTTP_MODE', '');
    }
    expect([copies(world.primary, 'default enqueue'), copies(world.primary, 'forced send')]).toEqual([0, 1]);
  });

  it('a FIFO send queue gets the one FIFO policy of every producer: the sender as group, the key as deduplication id', async () => {
    const fifo = 'mailroute-send.fifo';
    const sendQueue = process.env.MAILROUTE_QUEUE_URL;
    vi.stubEnv('MAILROUTE_QUEUE_URL', world.sqs.createQueue(fifo));
    try {
      const { http } = await cold();
      const enqueue = async (body: Record<string, unknown>) => {
        const event = httpEvent('function-url', { body: JSON.stringify(body), query: { mode: 'enqueue' } });
        const result = await http(event, lambdaContext('mailroute-http'));
        return [result.statusCode, parsed(result).queueMessageId];
      };
      const keyed = { from: 'Billing@example.com', idempotencyKey: 'invoice-2026-0042' };
      const first = await enqueue(message('fifo invoice', keyed));
      // A caller's retry within SQS's five minutes, even with other text, is the same queue message.
      expect(await enqueue(message('fifo invoice, retried', keyed))).toEqual(first);
      const other = await enqueue(message('fifo welcome', { from: 'hello@example.org' }));
      expect([first[0], other[0]]).toEqual([202, 202]);
      const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
      expect(world.sqs.messages(fifo).map((m) => [m.MessageId, m.MessageGroupId, m.MessageDeduplicationId])).toEqual([
        [first[1], 'billing@example.com', `key:${sha256('invoice-2026-0042')}`],
        [
          other[1],
          'hello@example.org',
          `body:${sha256(JSON.stringify(message('fifo welcome', { from: 'hello@example.org' })))}`,
        ],
      ]);
    } finally {
      vi.stubEnv('MAILROUTE_QUEUE_URL', sendQueue);
    }
  });

  it('strips a named API Gateway stage from the path, and answers 503 when the send queue refuses', async () => {
    const { http } = await cold();
    const event = httpEvent('api-gateway', { body: JSON.stringify(message('staged')), query: { mode: 'enqueue' } });
    event.requestContext.stage = 'prod';
    event.rawPath = '/prod/v1/send';
    world.sqs.faults.add({ status: 400, errorCode: 'QueueDoesNotExist' });
    const refused = await http(event, lambdaContext('mailroute-http'));
    expect(refused.statusCode).toBe(503);
    expect(parsed(refused)).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
  });
});
