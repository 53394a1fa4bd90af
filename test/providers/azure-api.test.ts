import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
  UnsupportedFeatureError,
} from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { type AcsEmulator, startAcsEmulator, validateEmailMessage } from '../../emulators/acs/index.ts';
import type { Fault } from '../../emulators/common/faults.ts';
import { AzureApiAdapter } from '../../providers/azure/api.ts';
import { operationIdFor } from '../../providers/azure/api-message.ts';
import type { AzureConfig } from '../../providers/azure/config.ts';
import { createAdapter } from '../../providers/index.ts';

let acs: AcsEmulator;
const env: Record<string, string> = {};

const azureConfig = (over: Partial<AzureConfig> = {}): AzureConfig => ({
  name: 'azure-api',
  provider: 'azure',
  mode: 'api',
  connectionString: { env: 'MR_TEST_ACS_CS' },
  pollIntervalMs: 5,
  ...over,
});
const adapter = (over: Partial<AzureConfig> = {}) => new AzureApiAdapter(azureConfig(over), { env });
const prepare = (input: unknown) => composeMessage(normalizeMessage(input));
const plain = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };
const tokenCredential = (token: string): TokenCredential => ({
  getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

/** An HTTPS front on loopback that passes requests to the emulator (test/fixtures/tls: localhost, 127.0.0.1). */
async function startTlsFront(target: string) {
  const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8');
  const ca = fixture('cert.pem');
  const { hostname, port } = new URL(target);
  // Headers pass unchanged (Host too), so the Operation-Location the emulator answers points back at this front.
  const server = createHttpsServer({ key: fixture('key.pem'), cert: ca }, (req, res) => {
    const upstream = request({ hostname, port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      // The emulator writes http:// poll URLs; behind TLS termination they are https://.
      const location = String(answer.headers['operation-location'] ?? '').replace(/^http:/, 'https:');
      res.writeHead(answer.statusCode ?? 502, {
        ...answer.headers,
        ...(location ? { 'operation-location': location } : {}),
      });
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, ca, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

beforeAll(async () => {
  acs = await startAcsEmulator({ runningPolls: 1, acceptedTokens: ['entra-token'] });
  Object.assign(env, { MR_TEST_ACS_CS: acs.connectionString, MR_TEST_ACS_KEY: acs.accessKey });
  Object.assign(process.env, env);
});
afterAll(() => acs.close());
beforeEach(() => acs.reset());

describe('Azure API mode: what ACS receives', () => {
  it('sends the EmailMessage the spec describes through Mailer, with the Operation-Id and the engagement flag', async () => {
    const config = validateConfig({
      providers: [
        { provider: 'azure', mode: 'api', connectionString: { env: 'MR_TEST_ACS_CS' }, engagementTracking: false },
      ],
    });
    const mailer = new Mailer(config, createAdapter);
    const input = {
      from: { name: 'Contoso Billing', address: 'billing@contoso.com' },
      to: [{ name: 'Ann Smith', address: 'ann@example.com' }],
      cc: 'cc@example.com',
      bcc: { name: 'Audit', address: 'audit@example.com' },
      replyTo: { name: 'Support', address: 'support@contoso.com' },
      subject: 'Invoice 42',
      text: 'Your invoice is attached.',
      html: '<p>Your invoice <img src="cid:logo"></p>',
      headers: { 'X-Campaign': 'march', 'In-Reply-To': '<order-42@contoso.com>' },
      attachments: [
        { filename: 'invoice.pdf', contentType: 'application/pdf', content: 'JVBERi0xLjQK' },
        { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw0KGgo=', contentId: 'logo' },
      ],
      idempotencyKey: 'invoice-42',
    };
    const result = await mailer.send(input);
    await mailer.close();
    expect(acs.store.emails).toHaveLength(1);
    const [stored] = acs.store.emails;
    expect(stored?.body).toEqual({
      senderAddress: 'billing@contoso.com',
      content: {
        subject: 'Invoice 42',
        plainText: 'Your invoice is attached.',
        html: '<p>Your invoice <img src="cid:logo"></p>',
      },
      recipients: {
        to: [{ address: 'ann@example.com', displayName: 'Ann Smith' }],
        cc: [{ address: 'cc@example.com' }],
        bcc: [{ address: 'audit@example.com', displayName: 'Audit' }],
      },
      replyTo: [{ address: 'support@contoso.com', displayName: 'Support' }],
      headers: { 'X-Campaign': 'march', 'In-Reply-To': '<order-42@contoso.com>' },
      attachments: [
        { name: 'invoice.pdf', contentType: 'application/pdf', contentInBase64: 'JVBERi0xLjQK' },
        { name: 'logo.png', contentType: 'image/png', contentInBase64: 'iVBORw0KGgo=', contentId: 'logo' },
      ],
      userEngagementTrackingDisabled: true,
    });
    expect(validateEmailMessage(stored?.body, '2025-09-01', { maxRecipients: 50 })).toBeUndefined();
    expect(stored?.apiVersion).toBe('2025-09-01');
    const operationId = operationIdFor(normalizeMessage(input));
    expect(stored?.operationIdHeader).toBe(operationId);
    expect(stored?.headers['operation-id']).toBe(operationId);
    expect(stored?.headers.authorization).toMatch(/^HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&/);
    expect(result).toMatchObject({
      provider: 'azure',
      mode: 'api',
      providerMessageId: operationId,
      accepted: ['ann@example.com', 'cc@example.com', 'audit@example.com'],
      details: { operationId, status: 'Running' },
    });
  });

  it('reuses the Operation-Id of an idempotency key, so ACS stores the email once', async () => {
    const sender = adapter();
    const keyed = { ...plain, idempotencyKey: 'order-7' };
    const first = await sender.send(await prepare(keyed), {});
    const again = await sender.send(await prepare(keyed), {});
    expect(again.providerMessageId).toBe(first.providerMessageId);
    expect(first.providerMessageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(acs.received()).toBe(2);
    expect(acs.store.emails).toHaveLength(1);
    // The second was a repeatable request's repeat: answered from its record, before the Operation-Id is looked at.
    expect(acs.store.emails[0]).toMatchObject({ operationIdHeader: first.providerMessageId, repeats: 0 });
    const other = await sender.send(await prepare({ ...plain, idempotencyKey: 'order-8' }), {});
    const unkeyed = [await sender.send(await prepare(plain), {}), await sender.send(await prepare(plain), {})];
    expect(new Set([first, other, ...unkeyed].map((r) => r.providerMessageId)).size).toBe(4);
    expect(acs.store.emails).toHaveLength(4);
  });

  it('leaves the engagement flag out unless configured, and takes a per-message override', async () => {
    await adapter().send(await prepare(plain), {});
    await adapter({ engagementTracking: false }).send(
      await prepare({ ...plain, providerOptions: { azure: { engagementTracking: true } } }),
      {},
    );
    expect(acs.store.emails.map((e) => e.body.userEngagementTrackingDisabled)).toEqual([undefined, false]);
    await expect(
      adapter().send(await prepare({ ...plain, providerOptions: { azure: { tracking: 1 } } }), {}),
    ).rejects.toMatchObject({
      name: 'InvalidMessageError',
      issues: [{ path: 'providerOptions.azure.tracking', message: 'azure does not support the option "tracking"' }],
    });
  });

  it('declares no tags: the core refuses them before ACS is called', async () => {
    const mailer = new Mailer(validateConfig({ providers: [{ ...azureConfig(), name: undefined }] }), createAdapter);
    const sent = mailer.send({ ...plain, tags: [{ name: 'campaign', value: 'march' }] });
    await expect(sent).rejects.toBeInstanceOf(UnsupportedFeatureError);
    await expect(sent).rejects.toThrow('azure does not support tags in api mode');
    await mailer.close();
    expect(acs.store.emails).toHaveLength(0);
    expect(adapter().limits).toEqual({ maxEncodedBytes: 10 * 1024 * 1024, maxRecipients: 50 });
  });

  it('authenticates with endpoint + accessKey, and with an Entra token credential (over TLS)', async () => {
    await adapter({ connectionString: undefined, endpoint: acs.url, accessKey: { env: 'MR_TEST_ACS_KEY' } }).send(
      await prepare(plain),
      {},
    );
    // The SDK's bearer policy refuses plain http, so Entra goes through a TLS front for the emulator.
    const tls = await startTlsFront(acs.url);
    const entra = azureConfig({ connectionString: undefined, endpoint: tls.url, waitForCompletion: true });
    const viaEntra = (token: string) =>
      new AzureApiAdapter(entra, {
        env,
        credential: tokenCredential(token),
        clientOptions: { tlsOptions: { ca: tls.ca } },
      });
    const viaToken = await viaEntra('entra-token').send(await prepare(plain), {});
    expect(viaToken.details).toMatchObject({ status: 'Succeeded' });
    const refused = await viaEntra('stolen')
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    await tls.close();
    expect(acs.store.emails.map((e) => e.headers.authorization?.toString().split(' ')[0])).toEqual([
      'HMAC-SHA256',
      'Bearer',
    ]);
    expect(refused).toBeInstanceOf(AuthenticationError);
    // An Entra application from the configuration builds its ClientSecretCredential (no token is fetched here).
    const app = { tenantId: 'tenant', clientId: 'client', clientSecret: { env: 'MR_TEST_ACS_KEY' } };
    expect(
      () => new AzureApiAdapter(azureConfig({ connectionString: undefined, endpoint: acs.url, entra: app }), { env }),
    ).not.toThrow();
  });

  it('allows plain http only on loopback', () => {
    const remote = {
      connectionString: undefined,
      endpoint: 'http://mail.example.com',
      accessKey: { env: 'MR_TEST_ACS_KEY' },
    };
    expect(() => adapter(remote)).toThrow(ConfigurationError);
    expect(() => adapter({ ...remote, endpoint: `http://localhost:${new URL(acs.url).port}` })).not.toThrow();
  });

  it('verifies credentials without sending: a wrong key is an AuthenticationError', async () => {
    await expect(adapter().verify()).resolves.toBeUndefined();
    env.MR_TEST_ACS_WRONG = `endpoint=${acs.endpoint};accesskey=${Buffer.alloc(64, 7).toString('base64')}`;
    await expect(adapter({ connectionString: { env: 'MR_TEST_ACS_WRONG' } }).verify()).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    expect(acs.store.emails).toHaveLength(0);
  });
});

describe('Azure API mode: waiting for the operation', () => {
  it('polls until Succeeded', async () => {
    const result = await adapter({ waitForCompletion: true }).send(await prepare(plain), {});
    expect(result.details).toMatchObject({ status: 'Succeeded' });
  });

  it.each([
    [
      'Failed (EmailDropped) as rejected recipients',
      { status: 'Failed' as const },
      RecipientRejectedError,
      /EmailDropped/,
    ],
    [
      'Failed for content as a content rejection',
      { status: 'Failed' as const, error: { code: 'SpamContentDetected', message: 'Spam.' } },
      ContentRejectedError,
      /SpamContentDetected/,
    ],
    ['Canceled as provider unavailable', { status: 'Canceled' as const }, ProviderUnavailableError, /Canceled/],
  ])('maps %s', async (_name, outcome, errorClass, text) => {
    acs.outcomes.add(outcome);
    const error = await adapter({ waitForCompletion: true })
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errorClass);
    expect((error as Error).message).toMatch(text);
    expect(acs.store.emails).toHaveLength(1);
  });

  it('is ambiguous when the operation does not end within pollTimeoutMs', async () => {
    const slow = await startAcsEmulator({ runningPolls: 10_000 });
    env.MR_TEST_ACS_SLOW = slow.connectionString;
    const error = await adapter({
      connectionString: { env: 'MR_TEST_ACS_SLOW' },
      waitForCompletion: true,
      pollTimeoutMs: 150,
    })
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    // It stopped polling while ACS still said Running (10,000 polls from the end), and said why.
    const [email] = slow.store.emails;
    expect(slow.store.peek(email!.operationId)).toMatchObject({ status: 'Running' });
    await slow.close();
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toMatch(/had not finished after pollTimeoutMs \(150 ms\)/);
  });

  it('counts a 202 as accepted even when the poll after it fails', async () => {
    acs.faults.add({ status: 500, pathIncludes: '/emails/operations/', count: 1 });
    const accepted = await adapter().send(await prepare(plain), {});
    expect(accepted.providerMessageId).toBe(acs.store.emails[0]?.operationId);
    acs.faults.add({ status: 500, pathIncludes: '/emails/operations/', fraction: 1 });
    const error = await adapter({ waitForCompletion: true })
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toMatch(/status could not be read/);
  });
});

describe('Azure API mode: every error maps to the taxonomy', () => {
  const cases: [string, Fault, new (...args: never[]) => Error][] = [
    ['401', { status: 401 }, AuthenticationError],
    ['403', { status: 403 }, AuthenticationError],
    ['400 InvalidEmailAddress', { status: 400, errorCode: 'InvalidEmailAddress' }, InvalidMessageError],
    ['400 naming spam content', { status: 400, errorCode: 'SpamContentDetected' }, ContentRejectedError],
    ['400 UnsupportedApiVersion', { status: 400, errorCode: 'UnsupportedApiVersion' }, ConfigurationError],
    ['404', { status: 404 }, ConfigurationError],
    ['413', { status: 413 }, MessageTooLargeError],
    ['408', { status: 408 }, TransientError],
    ['500', { status: 500 }, TransientError],
    ['503', { status: 503 }, TransientError],
  ];
  it.each(cases)('%s', async (_name, fault, errorClass) => {
    acs.faults.add({ ...fault, pathIncludes: 'emails:send' });
    const error = await adapter()
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject({ provider: 'azure', mode: 'api' });
    expect(acs.store.emails).toHaveLength(0);
  });

  it('refuses a wrong access key as an AuthenticationError', async () => {
    env.MR_TEST_ACS_WRONG = `endpoint=${acs.endpoint};accesskey=${Buffer.alloc(64, 7).toString('base64')}`;
    const error = await adapter({ connectionString: { env: 'MR_TEST_ACS_WRONG' } })
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ providerCode: 401, failover: true, retryable: false });
    expect(acs.store.emails).toHaveLength(0);
  });

  it('turns a 429 into ThrottledError with its Retry-After, at once (no SDK retry)', async () => {
    acs.faults.add({ status: 429, retryAfter: 3 });
    const before = acs.received();
    const error = await adapter()
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({ retryAfterMs: 3000 });
    // At once: the one request, answered 429, was not retried by the SDK (which would have waited the 3 s).
    expect(acs.received() - before).toBe(1);
    expect(acs.store.emails).toHaveLength(0);
  });

  it('makes a dropped connection ambiguous: with a key it is settled by a repeat, without one it stays so', async () => {
    acs.faults.add({ drop: true, pathIncludes: 'emails:send', count: 2 });
    const keyed = await adapter()
      .send(await prepare({ ...plain, idempotencyKey: 'k-1' }), {})
      .catch((e: unknown) => e);
    expect(keyed).toBeInstanceOf(AmbiguousDeliveryError);
    expect((keyed as Error).message).toMatch(
      /settled by repeating the request under the same Repeatability-Request-Id/,
    );
    const unkeyed = await adapter()
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(unkeyed).toBeInstanceOf(AmbiguousDeliveryError);
  });

  it('reports an unreachable endpoint as transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const config = {
      connectionString: undefined,
      endpoint: `http://127.0.0.1:${port}`,
      accessKey: { env: 'MR_TEST_ACS_KEY' },
    };
    await expect(adapter(config).send(await prepare(plain), {})).rejects.toBeInstanceOf(TransientError);
  });

  it('ends the call at the deadline', async () => {
    acs.faults.add({ latencyMs: 1500, pathIncludes: 'emails:send' });
    const error = await adapter()
      .send(await prepare(plain), { deadline: Date.now() + 200 })
      .catch((e: unknown) => e);
    // The deadline's abort ended the call: ACS would have accepted it after 1.5 s (and the send succeeded).
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toMatch(/abort/i);
  });
});
