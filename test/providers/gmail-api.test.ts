import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AddressObject, simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { checkCapabilities, type SendContext } from '../../core/contract/adapter.ts';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  InvalidMessageError,
  MessageTooLargeError,
  ThrottledError,
  TransientError,
  UnsupportedFeatureError,
} from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { GMAIL_SEND_SCOPE, type GmailEmulator, startGmailEmulator } from '../../emulators/gmail/index.ts';
import { createAdapter } from '../../providers/index.ts';

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const accountKey = rsa();
const otherKey = rsa();

let emulator: GmailEmulator;
let mailer: Mailer;
/** A recording hop in front of the emulator's token endpoint: the claims of every assertion the SDK posts. */
let tokenProxy: Server;
const assertions: Record<string, unknown>[] = [];

const message = (overrides: Record<string, unknown> = {}) => ({
  from: 'Sender <sender@example.com>',
  to: 'to@example.net',
  subject: 'hello',
  text: 'plain body',
  ...overrides,
});
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );
/**
 * Straight to one adapter, as the router calls it (compose once, check capabilities, send): the error classes
 * are the adapter's own, without the router's retries, failover or circuit breaker in between.
 */
async function direct(input: unknown, context: SendContext = {}, name = 'gmail') {
  const prepared = await composeMessage(normalizeMessage(input));
  const adapter = await mailer.adapter(name);
  await checkCapabilities(prepared, adapter);
  return adapter.send(prepared, context);
}
const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  [field ?? []].flat().flatMap((a) => a.value.map((v) => v.address));

beforeAll(async () => {
  emulator = await startGmailEmulator({
    port: 0,
    serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: accountKey.publicKey }],
    delegatedUsers: [SENDER],
    // Small, so a 413 is cheap to provoke; the adapter's own limit is the discovery document's.
    maxUploadBytes: 300_000,
  });
  tokenProxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const assertion = new URLSearchParams(body).get('assertion') ?? '';
    assertions.push(JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString() || '{}'));
    const answer = await fetch(emulator.tokenUrl, { method: 'POST', headers: req.headers as never, body });
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
  });
  await new Promise<void>((resolve) => tokenProxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(tokenProxy.address() as AddressInfo).port}/token`;
  process.env.MR_TEST_GMAIL_KEY = accountKey.privateKey;
  // As it often arrives from a JSON key file: newlines escaped.
  process.env.MR_TEST_GMAIL_KEY_ESCAPED = accountKey.privateKey.replace(/\n/g, '\\n');
  process.env.MR_TEST_GMAIL_OTHER_KEY = otherKey.privateKey;
  const entry = (name: string, extra: Record<string, unknown> = {}, keyVar = 'MR_TEST_GMAIL_KEY') => ({
    name,
    provider: 'gmail',
    mode: 'api',
    endpoint: emulator.url,
    serviceAccount: { clientEmail: SERVICE_ACCOUNT, privateKey: { env: keyVar }, tokenUrl: emulator.tokenUrl },
    user: SENDER,
    ...extra,
  });
  const config = validateConfig({
    providers: [
      entry('gmail', {
        serviceAccount: { clientEmail: SERVICE_ACCOUNT, privateKey: { env: 'MR_TEST_GMAIL_KEY' }, tokenUrl: proxyUrl },
      }),
      entry('escaped-key', {}, 'MR_TEST_GMAIL_KEY_ESCAPED'),
      entry('wrong-key', {}, 'MR_TEST_GMAIL_OTHER_KEY'),
      entry('not-delegated', { user: 'intruder@example.com' }),
      entry('big-limit', { limits: { maxEncodedBytes: 10_000_000 } }),
      // Nothing listens on the discard port: the connection is refused before anything is sent.
      entry('closed', { endpoint: 'http://127.0.0.1:9/' }),
    ],
  });
  mailer = new Mailer(config, createAdapter);
});
afterAll(async () => {
  await mailer.close();
  await emulator.close();
  await new Promise((resolve) => tokenProxy.close(resolve));
});
beforeEach(() => emulator.reset());

describe('Gmail API mode through Mailer, @googleapis/gmail and the emulator', () => {
  it('uploads the composed MIME once: every part, Bcc for Gmail to strip, the JWT sub and gmail.send scope', async () => {
    const logo = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const result = await mailer.send(
      message({
        to: ['"Doe, Jane" <jane@example.com>', 'bob@example.org'],
        cc: 'carol@example.com',
        bcc: ['Audit <audit@example.com>', 'archive@example.com'],
        replyTo: 'help@example.com',
        subject: 'Grüße ✓',
        text: 'Thanks!',
        html: '<p>Thanks! <img src="cid:logo@mailroute"></p>',
        attachments: [
          { filename: 'invoice.txt', content: Buffer.from('total: 42').toString('base64') },
          {
            filename: 'logo.png',
            contentType: 'image/png',
            content: logo.toString('base64'),
            contentId: 'logo@mailroute',
          },
        ],
        headers: { 'X-Campaign': 'spring' },
        unsubscribe: { mailto: 'unsub@example.com' },
        idempotencyKey: 'order-42',
      }),
      { provider: 'gmail' },
    );
    expect(emulator.store).toHaveLength(1);
    const [stored] = emulator.store;
    expect(stored).toMatchObject({ user: SENDER, uploadType: 'media' });
    expect(result).toMatchObject({ provider: 'gmail', mode: 'api', providerMessageId: stored!.id });
    expect(result.details).toEqual({ threadId: stored!.threadId });
    expect(result.accepted.sort()).toEqual(
      ['archive@example.com', 'audit@example.com', 'bob@example.org', 'carol@example.com', 'jane@example.com'].sort(),
    );

    const parsed = await simpleParser(stored!.raw, { keepCidLinks: true });
    expect(parsed.subject).toBe('Grüße ✓');
    expect(parsed.messageId).toBe(result.messageId);
    expect(addresses(parsed.to)).toEqual(['jane@example.com', 'bob@example.org']);
    expect(addresses(parsed.cc)).toEqual(['carol@example.com']);
    // Gmail reads recipients from the headers and strips Bcc before delivery, so Bcc travels as a header here.
    expect(addresses(parsed.bcc)).toEqual(['audit@example.com', 'archive@example.com']);
    expect(addresses(parsed.replyTo)).toEqual(['help@example.com']);
    expect(parsed.text?.trim()).toBe('Thanks!');
    expect(parsed.html).toContain('<img src="cid:logo@mailroute">');
    expect(parsed.headers.get('x-campaign')).toBe('spring');
    expect(stored!.headers['list-unsubscribe']).toBe('<mailto:unsub@example.com>');
    const inline = parsed.attachments.find((a) => a.cid === 'logo@mailroute');
    expect(inline?.content.equals(logo)).toBe(true);
    expect(inline?.related).toBe(true);
    expect(parsed.attachments.find((a) => a.filename === 'invoice.txt')?.content.toString()).toBe('total: 42');

    expect(assertions.at(-1)).toMatchObject({
      iss: SERVICE_ACCOUNT,
      sub: SENDER,
      scope: GMAIL_SEND_SCOPE,
      aud: 'https://oauth2.googleapis.com/token',
    });
  });

  it('sends a Bcc-only message (the emulator, like Gmail, needs a recipient header) with an escaped PEM', async () => {
    const result = await mailer.send(message({ to: undefined, bcc: 'hidden@example.com' }), {
      provider: 'escaped-key',
    });
    expect(result.accepted).toEqual(['hidden@example.com']);
    expect(emulator.store[0]!.headers.bcc).toBe('hidden@example.com');
    expect(emulator.store[0]!.headers.to).toBeUndefined();
  });

  it('declares no tags and 100 recipients; the core refuses more before any request', async () => {
    const adapter = await mailer.adapter('gmail');
    expect(adapter.capabilities.tags).toBe(false);
    expect(adapter.limits).toEqual({ maxEncodedBytes: 36_700_160, maxRecipients: 100 });
    const tags = await failure(
      mailer.send(message({ tags: [{ name: 'campaign', value: 'x' }] }), { provider: 'gmail' }),
    );
    expect(tags).toBeInstanceOf(UnsupportedFeatureError);
    const many = Array.from({ length: 101 }, (_, i) => `r${i}@example.net`);
    expect(await failure(mailer.send(message({ to: many }), { provider: 'gmail' }))).toBeInstanceOf(
      MessageTooLargeError,
    );
    expect(emulator.store).toHaveLength(0);
  });

  it('verifies by fetching a token, without sending', async () => {
    await expect((await mailer.adapter('gmail')).verify()).resolves.toBeUndefined();
    await expect((await mailer.adapter('wrong-key')).verify()).rejects.toBeInstanceOf(AuthenticationError);
    expect(emulator.store).toHaveLength(0);
  });
});

describe('Gmail API errors, each from an emulator fault', () => {
  const sendFault = async (fault: Record<string, unknown>) => {
    emulator.faults.add({ pathIncludes: '/messages/send', ...fault });
    return failure(direct(message()));
  };

  it('429 with Retry-After → ThrottledError with retryAfterMs', async () => {
    const error = await sendFault({ status: 429, retryAfter: 7 });
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({ retryAfterMs: 7000, providerCode: 'rateLimitExceeded', retryable: true });
  });

  it('429 without the header → the "Retry after <time>" of the message', async () => {
    const error = (await sendFault({ status: 429 })) as ThrottledError;
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(1000);
  });

  it.each(['rateLimitExceeded', 'userRateLimitExceeded'])('403 %s → ThrottledError', async (errorCode) => {
    const error = await sendFault({ errorCode });
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({ providerCode: errorCode });
  });

  it.each([500, 503])('%i → TransientError, not retried by the library', async (status) => {
    emulator.faults.add({ pathIncludes: '/messages/send', status, count: 2 });
    const error = await failure(direct(message()));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ providerCode: 'backendError' });
    // The second armed fault is still there: the SDK made one request, not a retry.
    expect(emulator.faults.take('/messages/send')).toBeDefined();
  });

  it('a connection dropped after the upload was sent → AmbiguousDeliveryError (Gmail has no idempotency key)', async () => {
    const error = await sendFault({ drop: true });
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error).toMatchObject({ retryable: false, failover: false });
  });

  it('a refused connection → TransientError: nothing can have been sent', async () => {
    expect(await failure(direct(message(), {}, 'closed'))).toBeInstanceOf(TransientError);
  });

  it('400 → InvalidMessageError (no retry, no failover)', async () => {
    const error = await sendFault({ status: 400 });
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect(error).toMatchObject({ retryable: false, failover: false });
  });

  it('413 from the upload path → MessageTooLargeError', async () => {
    const big = { filename: 'big.bin', content: Buffer.alloc(400_000, 7).toString('base64') };
    const error = await failure(direct(message({ attachments: [big] }), {}, 'big-limit'));
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ limit: 10_000_000, failover: true });
  });

  it('the deadline bounds the call: a slow answer → AmbiguousDeliveryError in time', async () => {
    emulator.faults.add({ pathIncludes: '/messages/send', latencyMs: 2000 });
    // The deadline ended the call: Gmail would have answered after 2 s (and the send succeeded).
    const error = await failure(direct(message(), { deadline: Date.now() + 300 }));
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toContain('deadline');
  });

  it('a failing token endpoint → TransientError, its retries off too', async () => {
    emulator.faults.add({ pathIncludes: '/token', status: 503 });
    // A fresh adapter holds no token yet, so the send has to ask the (failing) token endpoint.
    const entry = mailer.config.providers.find((p) => p.name === 'escaped-key')!;
    const fresh = await createAdapter(entry, mailer.config);
    const prepared = await composeMessage(normalizeMessage(message()));
    expect(await failure(fresh.send(prepared, {}))).toBeInstanceOf(TransientError);
    await expect(fresh.send(prepared, {})).resolves.toMatchObject({ rejected: [] });
  });
});

describe('Gmail API authentication failures', () => {
  it('a wrong private key → AuthenticationError (invalid_grant)', async () => {
    const error = await failure(direct(message(), {}, 'wrong-key'));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ providerCode: 'invalid_grant', failover: true, retryable: false });
  });

  it('a user the service account is not delegated for → AuthenticationError (unauthorized_client)', async () => {
    const error = await failure(direct(message(), {}, 'not-delegated'));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ providerCode: 'unauthorized_client' });
  });

  it('a token expired server-side is renewed once, and the message sent once', async () => {
    await direct(message({ subject: 'first' }));
    emulator.expireTokens();
    await direct(message({ subject: 'second' }));
    expect(emulator.store.map((m) => m.headers.subject)).toEqual(['first', 'second']);
  });

  it('an expired token whose renewal is refused → AuthenticationError', async () => {
    await direct(message());
    emulator.expireTokens();
    emulator.faults.add({ pathIncludes: '/token', status: 400, errorCode: 'invalid_grant' });
    const error = await failure(direct(message()));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ providerCode: 'invalid_grant' });
  });

  it('403 forbidden on the API → AuthenticationError', async () => {
    emulator.faults.add({ pathIncludes: '/messages/send', status: 403 });
    expect(await failure(direct(message()))).toBeInstanceOf(AuthenticationError);
  });
});
