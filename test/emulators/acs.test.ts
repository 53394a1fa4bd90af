import { readFileSync } from 'node:fs';
import { EmailClient, type EmailClientOptions, type EmailMessage } from '@azure/communication-email';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AcsEmulator, signAcsRequest, signedAcsFetch, startAcsEmulator } from '../../emulators/acs/index.ts';

const readExample = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../emulators/acs/spec/examples/${name}.json`, import.meta.url), 'utf8'));
const sendExample = readExample('SendEmail');
const exampleBody = sendExample.parameters.emailMessage as Record<string, unknown> & { recipients: unknown };
const exampleOperationId = sendExample.parameters['operation-id'] as string;

// The SDK's model renames the wire's `userEngagementTrackingDisabled`; everything else maps one to one.
const { userEngagementTrackingDisabled, ...rest } = exampleBody;
const exampleForSdk = { ...rest, disableUserEngagementTracking: userEngagementTrackingDisabled } as EmailMessage;
const simple: EmailMessage = {
  senderAddress: 'sender@contoso.com',
  content: { subject: 'hello', plainText: 'hi' },
  recipients: { to: [{ address: 'to@example.com' }] },
};
const inline = { name: 'logo.png', contentType: 'image/png', contentInBase64: 'iVBORw0K', contentId: 'logo' };

let acs: AcsEmulator;
const client = (options: Record<string, unknown> = {}, connectionString = acs.connectionString) =>
  new EmailClient(connectionString, { allowInsecureConnection: true, ...options } as EmailClientOptions);
const noRetry = { retryOptions: { maxRetries: 0 } };
// A retry-after of 0 makes the poller fall back to its own interval (2 s by default), so tests shorten it.
const fast = { updateIntervalInMs: 10 };

/** A raw request signed like the SDK does, for what the SDK cannot be made to send. */
async function raw(
  path: string,
  init: { body?: unknown; contentHash?: string; headers?: Record<string, string> } = {},
) {
  const { body: json, ...rest } = init;
  const method = json === undefined ? 'GET' : 'POST';
  const body = json === undefined ? '' : JSON.stringify(json);
  const response = await signedAcsFetch(`${acs.url}${path}`, { method, body, accessKey: acs.accessKey, ...rest });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}
const send = (body: unknown, apiVersion = '2025-09-01', headers = {}) =>
  raw(`/emails:send?api-version=${apiVersion}`, { body, headers });

beforeAll(async () => {
  acs = await startAcsEmulator({ runningPolls: 2, acceptedTokens: ['entra-token'] });
});
afterAll(() => acs.close());
beforeEach(() => acs.reset());

describe('ACS emulator: sending', () => {
  it("accepts the spec's SendEmail example and answers like the spec's 202", async () => {
    const answer = await send(exampleBody, '2025-09-01', { 'operation-id': exampleOperationId });
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({ id: exampleOperationId, status: 'Running' });
    expect(answer.headers.get('operation-location')).toBe(
      `${acs.url}/emails/operations/${exampleOperationId}?api-version=2025-09-01`,
    );
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.store.emails[0]).toMatchObject({
      operationId: exampleOperationId,
      operationIdHeader: exampleOperationId,
      apiVersion: '2025-09-01',
      body: exampleBody,
    });
  });

  it('takes the example from the real SDK and its poller reaches Succeeded after the Running polls', async () => {
    const polls: string[] = [];
    const counting = {
      name: 'count-polls',
      sendRequest: async (request: { method: string }, next: (r: never) => Promise<{ status: number }>) => {
        const response = await next(request as never);
        if (request.method === 'GET') polls.push(String(response.status));
        return response;
      },
    };
    const sdk = client({ additionalPolicies: [{ policy: counting, position: 'perCall' }] });
    const poller = await sdk.beginSend(exampleForSdk, fast);
    const result = await poller.pollUntilDone();
    expect(result.status).toBe('Succeeded');
    expect(result.id).toBe(acs.store.emails[0]?.operationId);
    // beginSend polls once itself; two Running answers then the terminal one.
    expect(polls).toEqual(['200', '200', '200']);
    expect(acs.store.emails[0]?.body).toEqual(exampleBody);
  });

  it('accepts inline attachments (contentId) on 2025-09-01 and refuses them on 2023-03-31', async () => {
    const withInline = { ...simple, attachments: [inline] };
    await (await client().beginSend(withInline, fast)).pollUntilDone();
    const old = client({ apiVersion: '2023-03-31', ...noRetry });
    await expect(old.beginSend(withInline)).rejects.toMatchObject({ statusCode: 400, code: 'BadRequest' });
    const { contentId: _, ...plain } = inline;
    await (await old.beginSend({ ...simple, attachments: [plain] }, fast)).pollUntilDone();
    expect(acs.store.emails.map((e) => e.apiVersion)).toEqual(['2025-09-01', '2023-03-31']);
  });

  it.each([
    ['senderAddress missing', { ...simple, senderAddress: undefined }, '$.senderAddress'],
    ['subject missing', { ...simple, content: { plainText: 'x' } }, '$.content.subject'],
    ['recipients.to missing', { ...simple, recipients: { cc: [{ address: 'a@b.c' }] } }, '$.recipients.to'],
    ['to not an array', { ...simple, recipients: { to: { address: 'a@b.c' } } }, '$.recipients.to'],
    [
      'attachment without content',
      { ...simple, attachments: [{ name: 'a', contentType: 'text/plain' }] },
      'contentInBase64',
    ],
    [
      'content not base64',
      { ...simple, attachments: [{ ...inline, contentInBase64: 'no base64!' }] },
      'contentInBase64',
    ],
    ['header value not a string', { ...simple, headers: { 'X-Count': 3 } }, "$.headers['X-Count']"],
  ])('refuses a body with %s (400 ErrorResponse)', async (_name, body, target) => {
    const answer = await send(body);
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('BadRequest');
    expect(answer.json.error.target).toContain(target);
    expect(answer.headers.get('x-ms-error-code')).toBe('BadRequest');
    expect(acs.store.emails).toHaveLength(0);
  });

  it('refuses an unknown or missing api-version in the ErrorResponse format', async () => {
    const unknown = await send(simple, '2024-01-01');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ code: 'UnsupportedApiVersion' });
    expect((await raw('/emails:send', { body: simple })).json.error.code).toBe('MissingApiVersionParameter');
    expect(acs.store.emails).toHaveLength(0);
  });

  it('refuses more than 50 recipients and malformed addresses', async () => {
    const to = Array.from({ length: 51 }, (_, i) => ({ address: `r${i}@example.com` }));
    expect((await send({ ...simple, recipients: { to } })).status).toBe(400);
    const badAddress = await send({ ...simple, recipients: { to: [{ address: 'not-an-address' }] } });
    expect(badAddress.json.error.code).toBe('InvalidEmailAddress');
  });

  it('answers a repeated Operation-Id with the same operation and stores the email once', async () => {
    const operationId = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const first = await (await client().beginSend(simple, { operationId, ...fast })).pollUntilDone();
    const second = await (await client().beginSend(simple, { operationId, ...fast })).pollUntilDone();
    expect(second.id).toBe(first.id);
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.store.emails[0]).toMatchObject({ operationId, operationIdHeader: operationId, repeats: 1 });
    await (await client().beginSend(simple, fast)).pollUntilDone();
    expect(acs.store.emails).toHaveLength(2);
  });

  it("ends an operation Failed with the spec example's EmailDropped error when told to", async () => {
    acs.outcomes.add({ status: 'Failed', recipientIncludes: 'dropped' });
    const dropped = { ...simple, recipients: { to: [{ address: 'dropped@example.com' }] } };
    await expect((await client().beginSend(dropped, fast)).pollUntilDone()).rejects.toThrow(/EmailDropped/);
    const id = acs.store.emails[0]!.operationId;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await raw(`/emails/operations/${id}?api-version=2025-09-01`)).json);
    const failedExample = readExample('GetOperationStatusReturnsFailedTerminalStatus').responses['200'].body;
    expect(statuses.at(-1)).toEqual({ ...failedExample, id });
    await expect((await client().beginSend(simple, fast)).pollUntilDone()).resolves.toMatchObject({
      status: 'Succeeded',
    });
  });

  it('answers 404 for an unknown operation', async () => {
    const answer = await raw('/emails/operations/00000000-0000-0000-0000-000000000000?api-version=2025-09-01');
    expect(answer.status).toBe(404);
    expect(answer.json.error.code).toBe('NotFound');
  });
});

describe('ACS emulator: operation phases', () => {
  let phased: AcsEmulator;
  beforeAll(async () => {
    phased = await startAcsEmulator({ notStartedPolls: 1, runningPolls: 1, retryAfterSeconds: 3 });
  });
  afterAll(() => phased.close());

  it('answers NotStarted, then Running, then Succeeded, with retry-after only while non-terminal', async () => {
    const { accessKey } = phased;
    const sendUrl = `${phased.url}/emails:send?api-version=2023-03-31`;
    const accepted = await signedAcsFetch(sendUrl, { method: 'POST', body: JSON.stringify(simple), accessKey });
    const { id, status } = (await accepted.json()) as { id: string; status: string };
    const seen = [[status, accepted.headers.get('retry-after')]];
    const pollUrl = accepted.headers.get('operation-location')!;
    expect(pollUrl).toBe(`${phased.url}/emails/operations/${id}?api-version=2023-03-31`);
    for (let i = 0; i < 4; i++) {
      const answer = await signedAcsFetch(pollUrl, { method: 'GET', accessKey });
      seen.push([((await answer.json()) as { status: string }).status, answer.headers.get('retry-after')]);
    }
    expect(seen).toEqual([
      ['NotStarted', '3'],
      ['NotStarted', '3'],
      ['Running', '3'],
      ['Succeeded', null],
      ['Succeeded', null],
    ]);
  });
});

describe('ACS emulator: authentication', () => {
  it('refuses a wrong access key with 401 Denied and the SDK raises', async () => {
    const wrongKey = `endpoint=${acs.endpoint};accesskey=${Buffer.alloc(64, 7).toString('base64')}`;
    await expect(client(noRetry, wrongKey).beginSend(simple)).rejects.toMatchObject({
      name: 'RestError',
      statusCode: 401,
      code: 'Denied',
    });
    expect(acs.store.emails).toHaveLength(0);
  });

  it('refuses a signature whose content hash does not match the body', async () => {
    const otherHash = Buffer.alloc(32).toString('base64');
    const answer = await raw('/emails:send?api-version=2025-09-01', { body: simple, contentHash: otherHash });
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({ error: { code: 'Denied', message: 'Denied by the resource provider.' } });
  });

  it('refuses missing auth headers and a stale x-ms-date', async () => {
    const noAuth = await fetch(`${acs.url}/emails:send?api-version=2025-09-01`, { method: 'POST', body: '{}' });
    expect(noAuth.status).toBe(401);
    const stale = await send(simple, '2025-09-01', { 'x-ms-date': new Date(Date.now() - 20 * 60_000).toUTCString() });
    expect(stale.status).toBe(401);
  });

  it('accepts only the configured bearer tokens', async () => {
    expect((await send(simple, '2025-09-01', { authorization: 'Bearer entra-token' })).status).toBe(202);
    expect((await send(simple, '2025-09-01', { authorization: 'Bearer other' })).status).toBe(401);
  });
});

describe('ACS emulator: faults', () => {
  it('plays a 429 with retry-after in the service error format, once', async () => {
    acs.faults.add({ status: 429, retryAfter: 2, count: 1 });
    const throttled = await send(simple);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('2');
    expect(throttled.json.error.code).toBe('TooManyRequests');
    expect(throttled.headers.get('x-ms-error-code')).toBe('TooManyRequests');
    expect((await send(simple)).status).toBe(202);
  });

  it('surfaces a 429 to the SDK without retries, and the SDK retries it by itself after retry-after', async () => {
    acs.faults.add({ status: 429, retryAfter: 1 });
    await expect(client(noRetry).beginSend(simple)).rejects.toMatchObject({ statusCode: 429, code: 'TooManyRequests' });
    acs.faults.add({ status: 429, retryAfter: 1 });
    const before = acs.received();
    // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
    const started = performance.now();
    await (await client().beginSend(simple, fast)).pollUntilDone();
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(acs.received() - before).toBe(2);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('drops the connection and the SDK call fails', async () => {
    acs.faults.add({ drop: true });
    await expect(client(noRetry).beginSend(simple)).rejects.toMatchObject({ name: 'RestError', code: 'ECONNRESET' });
    expect(acs.store.emails).toHaveLength(0);
    expect(acs.received()).toBe(1);
  });

  it('hang: takes the request (received), works on nothing and never answers until the client gives up', async () => {
    acs.faults.add({ hang: true, pathIncludes: 'emails:send' });
    const gaveUp = await client(noRetry)
      .beginSend(simple, { abortSignal: AbortSignal.timeout(300) })
      .then(
        () => 'answered',
        (error: Error) => error.name,
      );
    expect(gaveUp).toBe('AbortError');
    expect(acs.received()).toBe(1);
    expect(acs.store.emails).toHaveLength(0);
    // Played once: the next request is answered.
    expect((await send(simple)).status).toBe(202);
  });

  it('with dropAfter, sends the email and then drops the connection before answering', async () => {
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    await expect(client(noRetry).beginSend(simple)).rejects.toMatchObject({ name: 'RestError', code: 'ECONNRESET' });
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.received()).toBe(1);
  });

  it('plays latency after the request is received, and completes the send when the client has gone', async () => {
    acs.faults.add({ latencyMs: 300, pathIncludes: 'emails:send' });
    const url = `${acs.url}/emails:send?api-version=2025-09-01`;
    const body = JSON.stringify(simple);
    const gone = signedAcsFetch(url, { method: 'POST', body, accessKey: acs.accessKey }).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    await vi.waitFor(() => expect(acs.received()).toBe(1));
    // The emulator has the request and is still working on it.
    expect(acs.store.emails).toHaveLength(0);
    const count = await fetch(`${acs.url}/_emulator/received`);
    expect(await count.json()).toEqual({ received: 1 });
    acs.faults.add({ latencyMs: 300, pathIncludes: 'emails:send' });
    const abort = new AbortController();
    const abandoned = fetch(url, {
      method: 'POST',
      body,
      headers: signAcsRequest(url, { method: 'POST', body, accessKey: acs.accessKey }),
      signal: abort.signal,
    }).catch((error: Error) => error.name);
    await vi.waitFor(() => expect(acs.received()).toBe(2));
    abort.abort();
    expect(await abandoned).toBe('AbortError');
    expect(await gone).toBe('answered');
    await vi.waitFor(() => expect(acs.store.emails).toHaveLength(2));
    // Polls and control requests are not send requests.
    await raw(`/emails/operations/${acs.store.emails[0]!.operationId}?api-version=2025-09-01`);
    expect(acs.received()).toBe(2);
  });

  it('delays the answer by the injected latency', async () => {
    acs.faults.add({ latencyMs: 400, pathIncludes: 'emails:send' });
    const started = performance.now();
    await (await client().beginSend(simple, fast)).pollUntilDone();
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  });

  it('is controlled over HTTP: faults for a fraction of requests, store, outcomes and reset', async () => {
    const post = (path: string, body?: unknown) =>
      fetch(`${acs.url}/_emulator/${path}`, {
        method: 'POST',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await post('faults', { status: 503, fraction: 1 })).status).toBe(204);
    for (let i = 0; i < 3; i++) expect((await send(simple)).json.error.code).toBe('ServiceUnavailable');
    await fetch(`${acs.url}/_emulator/faults`, { method: 'DELETE' });
    await post('outcomes', { status: 'Canceled' });
    const { json } = await send(simple);
    const stored = (await (await fetch(`${acs.url}/_emulator/store`)).json()) as { emails: { operationId: string }[] };
    expect(stored.emails.map((e) => e.operationId)).toEqual([json.id]);
    for (let i = 0; i < 3; i++) await raw(`/emails/operations/${json.id}?api-version=2025-09-01`);
    expect(acs.store.peek(json.id)?.status).toBe('Canceled');
    await post('reset');
    expect(acs.store.emails).toHaveLength(0);
  });
});

describe('ACS emulator: repeatable requests (learn.microsoft.com/rest/api/communication/repeatable-requests)', () => {
  const imf = (ms: number) => new Date(ms).toUTCString();
  const repeatable = (id: string, firstSent = imf(Date.now())) => ({
    'repeatability-request-id': id,
    'repeatability-first-sent': firstSent,
  });
  const id = '5f0b7a57-2f0e-4bd6-9d1c-3c1d2a6e8b41';
  const other = { ...simple, content: { subject: 'other', plainText: 'other' } };

  it('executes a new request once and answers its repeats with the original answer', async () => {
    const headers = repeatable(id);
    const first = await send(simple, '2025-09-01', headers);
    expect(first.status).toBe(202);
    expect(first.headers.get('repeatability-result')).toBe('accepted');
    // The operation moves on; a repeat still gets the original answer, not a new operation.
    await raw(`/emails/operations/${first.json.id}?api-version=2025-09-01`);
    const again = await send(simple, '2025-09-01', headers);
    expect(again.status).toBe(202);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get('operation-location')).toBe(first.headers.get('operation-location'));
    expect(again.headers.get('repeatability-result')).toBe('accepted');
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.store.emails[0]?.headers['repeatability-request-id']).toBe(id);
    // Another id is another request.
    await send(simple, '2025-09-01', repeatable('0c8e3f1a-9b7d-4e2c-8a6f-1d2e3f4a5b6c'));
    expect(acs.store.emails).toHaveLength(2);
  });

  it.each([
    ['an id that is not a GUID', repeatable('order-42'), 'Repeatability-Request-Id'],
    ['a first-sent in ISO 8601', repeatable(id, new Date().toISOString()), 'Repeatability-First-Sent'],
    ['a first-sent in RFC 850 form', repeatable(id, 'Sunday, 06-Nov-94 08:49:37 GMT'), 'Repeatability-First-Sent'],
    [
      'a first-sent with the wrong weekday',
      repeatable(id, 'Mon, 06 Nov 1994 08:49:37 GMT'),
      'Repeatability-First-Sent',
    ],
    ['both malformed', repeatable('order-42', 'yesterday'), 'Repeatability-Request-Id'],
    ['an id without a first-sent', { 'repeatability-request-id': id }, 'Repeatability-First-Sent'],
    ['a first-sent without an id', { 'repeatability-first-sent': imf(Date.now()) }, 'Repeatability-Request-Id'],
  ])('rejects %s with 400 and sends nothing', async (_name, headers, target) => {
    const answer = await send(simple, '2025-09-01', headers);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('repeatability-result')).toBe('rejected');
    expect(answer.json.error).toMatchObject({ code: 'BadRequest', target });
    expect(answer.headers.get('x-ms-error-code')).toBe('BadRequest');
    expect(acs.store.emails).toHaveLength(0);
  });

  it('rejects a first-sent older than the 5 minutes tracked with 412, and takes one just inside', async () => {
    const stale = await send(simple, '2025-09-01', repeatable(id, imf(Date.now() - 5 * 60_000 - 2_000)));
    expect(stale.status).toBe(412);
    expect(stale.headers.get('repeatability-result')).toBe('rejected');
    expect(stale.json.error.message).toMatch(/not within the 5 minute window/);
    expect(acs.store.emails).toHaveLength(0);
    const inside = await send(simple, '2025-09-01', repeatable(id, imf(Date.now() - 4 * 60_000)));
    expect(inside.status).toBe(202);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('rejects a repeat that does not match the original (another body, another first-sent) with 400', async () => {
    const headers = repeatable(id, imf(Date.now() - 10_000));
    expect((await send(simple, '2025-09-01', headers)).status).toBe(202);
    const otherBody = await send(other, '2025-09-01', headers);
    expect(otherBody.status).toBe(400);
    expect(otherBody.headers.get('repeatability-result')).toBe('rejected');
    const otherTime = await send(simple, '2025-09-01', repeatable(id, imf(Date.now() - 20_000)));
    expect(otherTime.status).toBe(400);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('answers 409 to a repeat while the original is still being processed, then the original answer', async () => {
    acs.faults.add({ latencyMs: 400, pathIncludes: 'emails:send' });
    const headers = repeatable(id);
    const original = send(simple, '2025-09-01', headers);
    await vi.waitFor(() => expect(acs.received()).toBe(1));
    const during = await send(simple, '2025-09-01', headers);
    expect(during.status).toBe(409);
    expect(during.headers.get('repeatability-result')).toBe('accepted');
    expect(acs.store.emails).toHaveLength(0);
    const first = await original;
    expect(first.status).toBe(202);
    const after = await send(simple, '2025-09-01', headers);
    expect(after).toMatchObject({ status: 202, json: first.json });
    expect(acs.store.emails).toHaveLength(1);
  });

  it("replays an original 4xx, and executes a repeat again after the service's 5xx", async () => {
    const invalid = { ...simple, recipients: { to: [{ address: 'not-an-address' }] } };
    const once = repeatable(id);
    const refused = await send(invalid, '2025-09-01', once);
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe('InvalidEmailAddress');
    expect(refused.headers.get('repeatability-result')).toBe('accepted');
    const replayed = await send(invalid, '2025-09-01', once);
    expect(replayed).toMatchObject({ status: 400, json: refused.json });
    expect(replayed.headers.get('repeatability-result')).toBe('accepted');

    acs.faults.add({ status: 503, pathIncludes: 'emails:send' });
    const headers = repeatable('0c8e3f1a-9b7d-4e2c-8a6f-1d2e3f4a5b6c');
    expect((await send(simple, '2025-09-01', headers)).status).toBe(503);
    expect((await send(simple, '2025-09-01', headers)).status).toBe(202);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('answers a repeat after a dropped answer with the original operation, sending nothing more', async () => {
    acs.faults.add({ dropAfter: true, pathIncludes: 'emails:send' });
    const headers = repeatable(id);
    await expect(send(simple, '2025-09-01', headers)).rejects.toThrow();
    expect(acs.store.emails).toHaveLength(1);
    const again = await send(simple, '2025-09-01', headers);
    expect(again.status).toBe(202);
    expect(again.json.id).toBe(acs.store.emails[0]?.operationId);
    expect(acs.store.emails).toHaveLength(1);
    expect(acs.received()).toBe(2);
  });

  it('tracks an id for the configured window from its first-sent time', async () => {
    const short = await startAcsEmulator({ repeatabilityWindowMs: 2_000 });
    try {
      const post = (firstSent: string) =>
        signedAcsFetch(`${short.url}/emails:send?api-version=2025-09-01`, {
          method: 'POST',
          body: JSON.stringify(simple),
          accessKey: short.accessKey,
          headers: repeatable(id, firstSent),
        });
      expect((await post(imf(Date.now() - 4_000))).status).toBe(412);
      const firstSent = imf(Date.now());
      expect((await post(firstSent)).status).toBe(202);
      // Repeats are answered from the record until the window has passed; then the same request is too old.
      await vi.waitFor(async () => expect((await post(firstSent)).status).toBe(412), { timeout: 5_000, interval: 100 });
      expect(short.store.emails).toHaveLength(1);
    } finally {
      await short.close();
    }
  });
});
