import { generateKeyPairSync } from 'node:crypto';
import {
  CircuitBreaker,
  DefaultRequestSigner,
  FixedTimeDelayStrategy,
  MaxAttemptsTerminationStrategy,
  NoRetryConfigurationDetails,
  OciError,
  Region,
  type RetryConfiguration,
  SimpleAuthenticationDetailsProvider,
} from 'oci-common';
import { EmailDPClient, requests } from 'oci-emaildataplane';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';

const TENANCY = 'ocid1.tenancy.oc1..aaaaemulatortenancy';
const USER = 'ocid1.user.oc1..aaaaemulatoruser';
const FINGERPRINT = '20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaaemulatorcompartment';
const SENDER = 'noreply@example.com';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const apiKey = rsa();
const otherKey = rsa();

let emulator: OciEmulator;

const provider = (privateKey = apiKey.privateKey, fingerprint = FINGERPRINT) =>
  new SimpleAuthenticationDetailsProvider(TENANCY, USER, fingerprint, privateKey, null, Region.US_ASHBURN_1);

/**
 * A client on the emulator. The SDK's default retry (8 attempts over ~105 s on 429/5xx) and its per-client
 * circuit breaker are both switched off per client: OCI_SDK_DEFAULT_RETRY_ENABLED is read once, when
 * oci-common is first loaded, so setting it later in a process has no effect.
 */
function clientWith(options: { privateKey?: string; fingerprint?: string; retry?: RetryConfiguration } = {}) {
  const client = new EmailDPClient(
    { authenticationDetailsProvider: provider(options.privateKey, options.fingerprint) },
    {
      retryConfiguration: options.retry ?? NoRetryConfigurationDetails,
      circuitBreaker: new CircuitBreaker({ disableClientCircuitBreaker: true }),
    },
  );
  client.endpoint = emulator.url;
  return client;
}

const details = (overrides: Record<string, unknown> = {}) => ({
  messageId: `${Math.random().toString(36).slice(2)}@mail.example.com`,
  sender: { senderAddress: { email: SENDER, name: 'Mailroute' }, compartmentId: COMPARTMENT },
  recipients: {
    to: [{ email: 'to@example.net', name: 'Zoë' }],
    cc: [{ email: 'Blocked@Example.net' }],
    bcc: [{ email: 'bcc@example.net' }],
  },
  subject: 'Grüße',
  bodyText: 'text body',
  bodyHtml: '<p>html body</p>',
  replyTo: [{ email: 'support@example.com' }],
  headerFields: { 'X-Campaign': 'c1' },
  ...overrides,
});

const mime = (id: string) =>
  `From: ${SENDER}\r\nTo: to@example.net\r\nSubject: raw ${id}\r\nMessage-ID: <${id}@example.com>\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, ${id}\r\n`;

const submitRaw = (client: EmailDPClient, raw: string, recipients = ['to@example.net', 'blocked@example.net']) =>
  client.submitRawEmail({
    contentType: requests.SubmitRawEmailRequest.ContentType.MessageRfc822,
    compartmentId: COMPARTMENT,
    sender: SENDER,
    recipients,
    rawMessage: raw,
    // The SDK needs the byte length: it cannot sign a Buffer body, and cannot size a string body itself.
    contentLength: Buffer.byteLength(raw),
  });

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

beforeAll(async () => {
  emulator = await startOciEmulator({
    port: 0,
    keys: [{ keyId: `${TENANCY}/${USER}/${FINGERPRINT}`, publicKeyPem: apiKey.publicKey }],
    suppressed: ['blocked@example.net'],
  });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

describe('OCI emulator with the real oci-emaildataplane client', () => {
  it('accepts submitEmail, stores the details as sent and reports suppressed recipients', async () => {
    const sent = details();
    const res = await clientWith().submitEmail({ submitEmailDetails: sent });
    expect(res.emailSubmittedResponse).toEqual({
      messageId: sent.messageId,
      envelopeId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      suppressedRecipients: [{ email: 'Blocked@Example.net' }],
    });
    expect(res.opcRequestId).toMatch(/\/[0-9A-F]{32}$/);
    expect(emulator.store).toHaveLength(1);
    expect(emulator.store[0]).toMatchObject({
      operation: 'submitEmail',
      details: sent,
      sender: SENDER,
      compartmentId: COMPARTMENT,
      recipients: ['to@example.net', 'Blocked@Example.net', 'bcc@example.net'],
      keyId: `${TENANCY}/${USER}/${FINGERPRINT}`,
    });
  });

  it('accepts submitRawEmail with the exact MIME bytes and plain-string suppressed recipients', async () => {
    const raw = mime('raw-1');
    const res = await submitRaw(clientWith(), raw);
    expect(res.emailRawSubmittedResponse).toMatchObject({
      messageId: 'raw-1@example.com',
      suppressedRecipients: ['blocked@example.net'],
    });
    const [stored] = emulator.store;
    expect(stored!.raw!.equals(Buffer.from(raw))).toBe(true);
    expect(stored).toMatchObject({
      operation: 'submitRawEmail',
      recipients: ['to@example.net', 'blocked@example.net'],
    });
    expect(stored!.headers).toMatchObject({ subject: 'raw raw-1' });
    const overHttp = (await (await fetch(`${emulator.url}/_emulator/store`)).json()) as { emails: { raw: string }[] };
    expect(Buffer.from(overHttp.emails[0]!.raw, 'base64').toString()).toBe(raw);
  });

  it('keeps one copy of a repeated messageId and answers it with the first envelopeId', async () => {
    const client = clientWith();
    const first = await submitRaw(client, mime('dup'));
    const again = await submitRaw(client, mime('dup'));
    const sent = details({ messageId: '<structured-dup@example.com>' });
    const a = await client.submitEmail({ submitEmailDetails: sent });
    const b = await client.submitEmail({ submitEmailDetails: sent });
    expect(again.emailRawSubmittedResponse.envelopeId).toBe(first.emailRawSubmittedResponse.envelopeId);
    expect(b.emailSubmittedResponse.envelopeId).toBe(a.emailSubmittedResponse.envelopeId);
    expect(emulator.store.map((e) => e.messageId)).toEqual(['dup@example.com', 'structured-dup@example.com']);
  });

  it.each([
    ['no subject', { subject: undefined }],
    ['no body', { bodyText: undefined, bodyHtml: undefined }],
    ['no recipients', { recipients: {} }],
    ['51 recipients', { recipients: { to: Array.from({ length: 51 }, (_, i) => ({ email: `r${i}@example.net` })) } }],
    ['a reserved header', { headerFields: { Subject: 'x' } }],
    ['a non-ASCII address', { recipients: { to: [{ email: 'zoë@example.net' }] } }],
    ['a malformed messageId', { messageId: 'not a message id' }],
    ['no compartment', { sender: { senderAddress: { email: SENDER } } }],
  ])('refuses submitEmail with %s: 400 InvalidParameter', async (_, overrides) => {
    const error = await rejection(clientWith().submitEmail({ submitEmailDetails: details(overrides) as never }));
    expect(error).toBeInstanceOf(OciError);
    expect(error).toMatchObject({ statusCode: 400, serviceCode: 'InvalidParameter' });
    expect(emulator.store).toHaveLength(0);
  });

  it('refuses submitRawEmail with a content type other than message/rfc822 or message/global', async () => {
    const raw = mime('wrong-type');
    const request = { compartmentId: COMPARTMENT, sender: SENDER, recipients: ['to@example.net'], rawMessage: raw };
    const call = clientWith().submitRawEmail({
      ...request,
      contentType: 'text/plain' as never,
      contentLength: Buffer.byteLength(raw),
    });
    await expect(call).rejects.toMatchObject({ statusCode: 400, serviceCode: 'InvalidParameter' });
  });
});

describe('request signatures', () => {
  it.each([
    ['a wrong private key', { privateKey: otherKey.privateKey }],
    ['an unknown keyId', { fingerprint: 'aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99' }],
  ])('answers 401 NotAuthenticated to the SDK signing with %s', async (_, options) => {
    const error = await rejection(clientWith(options).submitEmail({ submitEmailDetails: details() }));
    expect(error).toBeInstanceOf(OciError);
    expect(error).toMatchObject({ statusCode: 401, serviceCode: 'NotAuthenticated' });
    expect(emulator.store).toHaveLength(0);
  });

  /** Signs with the SDK's own DefaultRequestSigner, then sends with fetch so the test controls the bytes. */
  async function signedPost(body: string, headers: Record<string, string> = {}) {
    const request = {
      method: 'POST' as const,
      uri: `${emulator.url}/20220926/actions/submitEmail`,
      headers: new Headers({ 'content-type': 'application/json', ...headers }),
      body,
    };
    await new DefaultRequestSigner(provider()).signHttpRequest(request);
    expect(request.headers.get('authorization')).toMatch(
      /^Signature version="1",keyId="[^"]+",algorithm="rsa-sha256",headers="x-date \(request-target\) host Content-Type Content-Length x-content-sha256"/,
    );
    return (sentBody = body) => fetch(request.uri, { method: 'POST', headers: request.headers, body: sentBody });
  }

  it('answers 401 to a body changed after signing (x-content-sha256 mismatch), 200 to the same request untouched', async () => {
    const body = JSON.stringify(details({ subject: 'original' }));
    const send = await signedPost(body);
    const tampered = await send(body.replace('original', 'tampered'));
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toEqual({
      code: 'NotAuthenticated',
      message: 'The required information to complete authentication was not provided or was incorrect.',
    });
    expect(tampered.headers.get('x-emulator-auth-failure')).toBe('x-content-sha256 does not match the body');
    expect(tampered.headers.get('opc-request-id')).toBeTruthy();
    expect((await send()).status).toBe(200);
    expect(emulator.store.map((e) => e.details?.subject)).toEqual(['original']);
  });

  it('answers 401 to a stale date and to an unsigned request', async () => {
    const stale = await (await signedPost('{}', { 'x-date': new Date(Date.now() - 10 * 60_000).toUTCString() }))();
    expect([stale.status, stale.headers.get('x-emulator-auth-failure')]).toEqual([
      401,
      expect.stringContaining('5 minutes'),
    ]);
    const unsigned = await fetch(`${emulator.url}/20220926/actions/submitEmail`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(401);
  });
});

describe('fault injection', () => {
  it.each([
    [{ status: 429 }, 429, 'TooManyRequests'],
    [{ errorCode: 'TooManyRequests' }, 429, 'TooManyRequests'],
    [{ status: 500 }, 500, 'InternalServerError'],
    [{ status: 503 }, 503, 'ServiceUnavailable'],
    [{ status: 400, errorCode: 'LimitExceeded' }, 400, 'LimitExceeded'],
  ])('plays %j to the SDK as %i %s', async (fault, statusCode, serviceCode) => {
    emulator.faults.add(fault);
    const error = await rejection(submitRaw(clientWith(), mime('fault')));
    expect(error).toBeInstanceOf(OciError);
    expect(error).toMatchObject({ statusCode, serviceCode, opcRequestId: expect.any(String) });
    expect(emulator.store).toHaveLength(0);
    await expect(submitRaw(clientWith(), mime('fault'))).resolves.toBeDefined();
  });

  it('delays, drops, and sends Retry-After; faults also arrive over HTTP', async () => {
    emulator.faults.add({ latencyMs: 300 });
    // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
    const started = performance.now();
    await clientWith().submitEmail({ submitEmailDetails: details() });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    emulator.faults.add({ drop: true });
    const dropped = await rejection(clientWith().submitEmail({ submitEmailDetails: details() }));
    expect(dropped).not.toBeInstanceOf(OciError);
    expect(dropped).toMatchObject({ message: expect.stringMatching(/fetch failed|socket|terminated/i) });

    await fetch(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 429, retryAfter: 3 }),
    });
    const throttled = await fetch(`${emulator.url}/20220926/actions/submitEmail`, { method: 'POST', body: '{}' });
    expect([throttled.status, throttled.headers.get('retry-after')]).toEqual([429, '3']);
    expect(emulator.store).toHaveLength(1);
  });

  it('hang: the submission is never answered, the connection held until the client gives up; nothing stored', async () => {
    emulator.faults.add({ hang: true });
    const url = `${emulator.url}/20220926/actions/submitEmail`;
    const gaveUp = await fetch(url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    expect(gaveUp).toBe('TimeoutError');
    expect(emulator.store).toHaveLength(0);
    await expect(clientWith().submitEmail({ submitEmailDetails: details() })).resolves.toBeDefined();
  });

  it('lets an SDK retry configuration recover from one 429, storing the email once', async () => {
    emulator.faults.add({ status: 429 });
    const retry = {
      terminationStrategy: new MaxAttemptsTerminationStrategy(2),
      delayStrategy: new FixedTimeDelayStrategy(0),
    };
    await expect(submitRaw(clientWith({ retry }), mime('retried'))).resolves.toBeDefined();
    expect(emulator.store.map((e) => e.messageId)).toEqual(['retried@example.com']);
  });
});
