import { generateKeyPairSync } from 'node:crypto';
import { type AddressObject, simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { checkCapabilities, type SendContext } from '../../core/contract/adapter.ts';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  InvalidMessageError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
  UnsupportedFeatureError,
} from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';
import { createAdapter } from '../../providers/index.ts';
import { submitRawEmailRequest } from '../../providers/oci/api-request.ts';
import { closedPort } from '../helpers/failover.ts';

const TENANCY = 'ocid1.tenancy.oc1..aaaatesttenancy';
const USER = 'ocid1.user.oc1..aaaatestuser';
const FINGERPRINT = '11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaatestcompartment';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const apiKey = rsa();
const otherKey = rsa();

let emulator: OciEmulator;
let mailer: Mailer;

const message = (overrides: Record<string, unknown> = {}) => ({
  from: 'Shop <noreply@example.com>',
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
 * are the adapter's own, without the router's retries, failover, circuit breaker or idempotency record in between.
 */
async function direct(input: unknown, context: SendContext = {}, name = 'oci') {
  const prepared = await composeMessage(normalizeMessage(input));
  const adapter = await mailer.adapter(name);
  await checkCapabilities(prepared, adapter);
  return adapter.send(prepared, context);
}
const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  [field ?? []].flat().flatMap((a) => a.value.map((v) => v.address));
const bare = (messageId: string) => messageId.replace(/^<(.*)>$/, '$1');
const logo = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const attachments = [
  { filename: 'invoice.txt', content: Buffer.from('total: 42').toString('base64') },
  { filename: 'logo.png', contentType: 'image/png', content: logo.toString('base64'), contentId: 'logo@mailroute' },
];

beforeAll(async () => {
  // The SDK console.warns every failed call ("Request cannot be retried..."); the tests provoke many.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  emulator = await startOciEmulator({
    port: 0,
    keys: [{ keyId: `${TENANCY}/${USER}/${FINGERPRINT}`, publicKeyPem: apiKey.publicKey }],
    suppressed: ['blocked@example.net'],
  });
  process.env.MR_TEST_OCI_KEY = apiKey.privateKey;
  process.env.MR_TEST_OCI_OTHER_KEY = otherKey.privateKey;
  const entry = (name: string, keyVar = 'MR_TEST_OCI_KEY') => ({
    name,
    provider: 'oci',
    mode: 'api',
    region: 'us-ashburn-1',
    endpoint: emulator.url,
    compartmentId: COMPARTMENT,
    apiKey: { tenancy: TENANCY, user: USER, fingerprint: FINGERPRINT, privateKey: { env: keyVar } },
  });
  mailer = new Mailer(
    validateConfig({
      providers: [
        entry('oci'),
        entry('wrong-key', 'MR_TEST_OCI_OTHER_KEY'),
        // Nothing listens there: the connection is refused before anything is sent.
        { ...entry('closed'), endpoint: `http://127.0.0.1:${await closedPort()}` },
      ],
    }),
    createAdapter,
  );
});
afterAll(async () => {
  await mailer.close();
  await emulator.close();
  vi.restoreAllMocks();
});
beforeEach(() => emulator.reset());

describe('OCI API mode through Mailer, oci-emaildataplane and the emulator', () => {
  it('sends a message without attachments with submitEmail, every field structured, the signature verified', async () => {
    const result = await mailer.send(
      message({
        to: ['"Doe, Jane" <jane@example.com>', 'bob@example.org'],
        cc: 'carol@example.com',
        bcc: 'audit@example.com',
        replyTo: 'Help <help@example.com>',
        subject: 'Grüße ✓',
        text: 'Thanks!',
        html: '<p>Thanks!</p>',
        headers: { 'X-Campaign': 'spring' },
        idempotencyKey: 'order-42',
      }),
      { provider: 'oci' },
    );
    expect(emulator.store).toHaveLength(1);
    const [stored] = emulator.store;
    expect(stored).toMatchObject({
      operation: 'submitEmail',
      keyId: `${TENANCY}/${USER}/${FINGERPRINT}`,
      compartmentId: COMPARTMENT,
      sender: 'noreply@example.com',
      messageId: bare(result.messageId),
    });
    expect(stored!.details).toEqual({
      messageId: bare(result.messageId),
      sender: { senderAddress: { email: 'noreply@example.com', name: 'Shop' }, compartmentId: COMPARTMENT },
      recipients: {
        to: [{ email: 'jane@example.com', name: 'Doe, Jane' }, { email: 'bob@example.org' }],
        cc: [{ email: 'carol@example.com' }],
        bcc: [{ email: 'audit@example.com' }],
      },
      subject: 'Grüße ✓',
      bodyText: 'Thanks!',
      bodyHtml: '<p>Thanks!</p>',
      replyTo: [{ email: 'help@example.com', name: 'Help' }],
      headerFields: { 'X-Campaign': 'spring' },
    });
    expect(result).toMatchObject({
      provider: 'oci',
      mode: 'api',
      providerMessageId: stored!.envelopeId,
      rejected: [],
      details: { operation: 'submitEmail', envelopeId: stored!.envelopeId, messageId: bare(result.messageId) },
    });
    expect(result.accepted.sort()).toEqual(
      ['audit@example.com', 'bob@example.org', 'carol@example.com', 'jane@example.com'].sort(),
    );
  });

  it('sends attachments and an inline image with submitRawEmail: the composed MIME, Bcc in the envelope only', async () => {
    const result = await mailer.send(
      message({
        cc: 'carol@example.com',
        bcc: 'audit@example.com',
        replyTo: 'help@example.com',
        html: '<p><img src="cid:logo@mailroute"></p>',
        attachments,
        headers: { 'X-Campaign': 'spring' },
      }),
      { provider: 'oci' },
    );
    const [stored] = emulator.store;
    expect(stored).toMatchObject({
      operation: 'submitRawEmail',
      keyId: `${TENANCY}/${USER}/${FINGERPRINT}`,
      sender: 'noreply@example.com',
      recipients: ['to@example.net', 'carol@example.com', 'audit@example.com'],
      messageId: bare(result.messageId),
    });
    expect(stored!.raw!.length).toBe(result.size);
    const parsed = await simpleParser(stored!.raw!, { keepCidLinks: true });
    expect(parsed.messageId).toBe(result.messageId);
    expect(addresses(parsed.to)).toEqual(['to@example.net']);
    expect(addresses(parsed.cc)).toEqual(['carol@example.com']);
    expect(parsed.bcc).toBeUndefined();
    expect(addresses(parsed.replyTo)).toEqual(['help@example.com']);
    expect(parsed.headers.get('x-campaign')).toBe('spring');
    expect(parsed.text?.trim()).toBe('plain body');
    expect(parsed.html).toContain('cid:logo@mailroute');
    expect(parsed.attachments.find((a) => a.cid === 'logo@mailroute')?.content.equals(logo)).toBe(true);
    expect(parsed.attachments.find((a) => a.filename === 'invoice.txt')?.content.toString()).toBe('total: 42');
    expect(result.details).toMatchObject({ operation: 'submitRawEmail', envelopeId: stored!.envelopeId });
  });

  it('sends the same Message-ID for the same idempotency key, so a retry is recognized (one copy kept)', async () => {
    // Straight to the adapter: the Mailer's own idempotency record would answer the repeat without sending.
    const first = await direct(message({ idempotencyKey: 'retry-me' }));
    const again = await direct(message({ idempotencyKey: 'retry-me' }));
    const raw1 = await direct(message({ idempotencyKey: 'retry-raw', attachments }));
    const raw2 = await direct(message({ idempotencyKey: 'retry-raw', attachments }));
    expect(again.details?.messageId).toBe(first.details?.messageId);
    expect(again.providerMessageId).toBe(first.providerMessageId);
    expect(raw2.providerMessageId).toBe(raw1.providerMessageId);
    expect(emulator.store.map((e) => e.messageId)).toEqual([first.details?.messageId, raw1.details?.messageId]);
  });

  it.each([
    ['submitEmail', []],
    ['submitRawEmail', attachments],
  ])('%s: suppressed recipients come back as rejected; all suppressed → RecipientRejectedError', async (_, files) => {
    const some = await direct(message({ to: ['to@example.net', 'Blocked@Example.net'], attachments: files }));
    expect(some.accepted).toEqual(['to@example.net']);
    expect(some.rejected).toEqual([
      {
        address: 'Blocked@example.net',
        reason: expect.stringContaining('suppression list'),
        providerCode: 'Suppressed',
      },
    ]);
    const error = await failure(direct(message({ to: 'blocked@example.net', attachments: files })));
    expect(error).toBeInstanceOf(RecipientRejectedError);
    expect(error).toMatchObject({ recipients: [{ address: 'blocked@example.net' }], failover: false });
  });

  it('declares no tags, 50 recipients and a configurable size', async () => {
    const adapter = await mailer.adapter('oci');
    expect(adapter.capabilities).toMatchObject({ tags: false, attachments: true, inlineImages: true });
    expect(adapter.limits).toEqual({ maxEncodedBytes: 2 * 1024 * 1024, maxRecipients: 50 });
    const tags = await failure(mailer.send(message({ tags: [{ name: 'c', value: 'x' }] }), { provider: 'oci' }));
    expect(tags).toBeInstanceOf(UnsupportedFeatureError);
    expect(emulator.store).toHaveLength(0);
  });

  it('refuses MIME that is not UTF-8 rather than sign it wrongly', async () => {
    const prepared = await composeMessage(normalizeMessage(message()));
    const latin1 = { ...prepared, raw: Buffer.concat([prepared.raw, Buffer.from([0xe9])]) };
    expect(() => submitRawEmailRequest(latin1, COMPARTMENT, latin1.raw)).toThrow(UnsupportedFeatureError);
    expect(submitRawEmailRequest(prepared, COMPARTMENT, prepared.raw)).toMatchObject({
      contentLength: prepared.raw.length,
      rawMessage: prepared.raw.toString('utf8'),
    });
  });

  it('verifies the key with an empty submission: 400 passes, 401 fails, nothing is stored', async () => {
    await expect((await mailer.adapter('oci')).verify()).resolves.toBeUndefined();
    await expect((await mailer.adapter('wrong-key')).verify()).rejects.toBeInstanceOf(AuthenticationError);
    expect(emulator.store).toHaveLength(0);
  });
});

describe('OCI API errors, each from an emulator fault', () => {
  it.each([
    [{ status: 429, retryAfter: 3 }, ThrottledError, 'TooManyRequests'],
    [{ status: 400, errorCode: 'LimitExceeded' }, ThrottledError, 'LimitExceeded'],
    [{ status: 500 }, TransientError, 'InternalServerError'],
    [{ status: 503 }, TransientError, 'ServiceUnavailable'],
    [{ status: 400 }, InvalidMessageError, 'InvalidParameter'],
    [{ status: 401 }, AuthenticationError, 'NotAuthenticated'],
    [{ status: 404 }, AuthenticationError, 'NotAuthorizedOrNotFound'],
  ])('%j → %o (%s), one request: SDK retries off', async (fault, type, code) => {
    emulator.faults.add({ ...fault, count: 2 });
    const error = await failure(direct(message()));
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ providerCode: code, provider: 'oci', mode: 'api' });
    expect(emulator.faults.take('/20220926/actions/submitEmail')).toBeDefined();
  });

  it('a connection dropped after the request went out → AmbiguousDeliveryError (the SDK keeps no cause)', async () => {
    emulator.faults.add({ drop: true });
    const error = await failure(direct(message({ attachments })));
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error).toMatchObject({ failover: false, retryable: false });
    expect((error as Error).message).toMatch(/connection was lost after the request was sent/);
  });

  it('a refused connection → TransientError: no request went out', async () => {
    const error = await failure(direct(message(), {}, 'closed'));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/nothing was sent/);
  });

  it('the deadline aborts the request: a slow answer → AmbiguousDeliveryError in time', async () => {
    emulator.faults.add({ latencyMs: 2000 });
    // The deadline ended the call: the emulator would have answered after 2 s (and the send succeeded).
    const error = await failure(direct(message(), { deadline: Date.now() + 300 }));
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toContain('deadline');
    // A deadline already passed: no request at all.
    expect(await failure(direct(message(), { deadline: Date.now() - 1 }))).toBeInstanceOf(TransientError);
  });

  it('a wrong signing key → AuthenticationError; a malformed one → ConfigurationError naming the field', async () => {
    const error = await failure(direct(message(), {}, 'wrong-key'));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ providerCode: 'NotAuthenticated', failover: true });
    process.env.MR_TEST_OCI_BAD_KEY = 'not a key';
    const config = validateConfig({
      providers: [
        {
          provider: 'oci',
          mode: 'api',
          region: 'us-ashburn-1',
          compartmentId: COMPARTMENT,
          apiKey: {
            tenancy: TENANCY,
            user: USER,
            fingerprint: FINGERPRINT,
            privateKey: { env: 'MR_TEST_OCI_BAD_KEY' },
          },
        },
      ],
    });
    const bad = await createAdapter(config.providers[0]!, config).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigurationError);
    expect(bad).toMatchObject({ issues: [{ path: 'apiKey.privateKey' }] });
  });

  it('resource principal outside OCI Functions → ConfigurationError naming auth (the branch is not testable here)', async () => {
    const config = validateConfig({
      providers: [
        { provider: 'oci', mode: 'api', region: 'us-ashburn-1', compartmentId: COMPARTMENT, auth: 'resourcePrincipal' },
      ],
    });
    const error = await createAdapter(config.providers[0]!, config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ issues: [{ path: 'auth' }] });
  });
});
