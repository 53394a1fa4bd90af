import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MailrouteConfig, validateConfig } from '../../core/config/config.ts';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import type { Fault } from '../../emulators/common/faults.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { createAdapter } from '../../providers/index.ts';
import { SesApiAdapter } from '../../providers/ses/api.ts';
import type { SesConfig } from '../../providers/ses/config.ts';

const env = { MR_TEST_SES_KEY: 'AKIDMAILROUTETEST', MR_TEST_SES_SECRET: 'mailroute-test-secret-key' };
const credentials = { accessKeyId: { env: 'MR_TEST_SES_KEY' }, secretAccessKey: { env: 'MR_TEST_SES_SECRET' } };

let ses: SesEmulator;
/** SendEmail bodies as they left the SDK, recorded by a pass-through proxy in front of the emulator. */
let recorder: { url: string; bodies: Record<string, unknown>[]; server: Server };

/** A pass-through HTTP proxy that keeps each request's JSON body: the store drops tags and configuration sets. */
async function startRecorder(target: string) {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.url?.startsWith('/v2/email/outbound-emails')) bodies.push(JSON.parse(body.toString('utf8')));
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k, v]) => k !== 'host' && typeof v === 'string'),
    ) as Record<string, string>;
    const answer = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      body: body.length ? new Uint8Array(body) : null,
    });
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, server };
}

const sesConfig = (over: Partial<SesConfig> = {}): SesConfig => ({
  name: 'ses-api',
  provider: 'ses',
  mode: 'api',
  region: 'eu-west-1',
  endpoint: ses.url,
  credentials,
  ...over,
});
const adapter = (over: Partial<SesConfig> = {}) => new SesApiAdapter(sesConfig(over), { env });
const prepare = (input: unknown) => composeMessage(normalizeMessage(input));
const account = {
  DedicatedIpAutoWarmupEnabled: false,
  Details: {
    AdditionalContactEmailAddresses: [],
    ContactLanguage: 'EN',
    MailType: 'TRANSACTIONAL',
    ReviewDetails: { CaseId: 'case-1', Status: 'GRANTED' },
    UseCaseDescription: 'tests',
    WebsiteURL: 'https://example.com',
  },
  EnforcementStatus: 'HEALTHY',
  ProductionAccessEnabled: true,
  SendingEnabled: true,
  SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 0 },
  SuppressionAttributes: { SuppressedReasons: [] },
};
const plain = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };

beforeAll(async () => {
  ses = await startSesEmulator();
  recorder = await startRecorder(ses.url);
  Object.assign(process.env, env);
});
afterAll(async () => {
  delete process.env.AWS_SES_ACCOUNT;
  await new Promise((resolve) => recorder.server.close(resolve));
  await ses.close();
});
beforeEach(async () => {
  await ses.clear();
  recorder.bodies.length = 0;
});

describe('SES API mode: what SES receives', () => {
  it('sends a message that fits Simple content through Mailer, with tags, configuration set and list options', async () => {
    const config: MailrouteConfig = validateConfig({
      providers: [
        {
          provider: 'ses',
          mode: 'api',
          region: 'eu-west-1',
          endpoint: recorder.url,
          credentials,
          configurationSet: 'transactional',
        },
      ],
    });
    const mailer = new Mailer(config, createAdapter);
    const result = await mailer.send({
      from: { name: 'Billing, Inc.', address: 'billing@example.com' },
      to: [{ name: 'Ann', address: 'ann@example.com' }],
      cc: 'cc@example.com',
      bcc: 'bcc@example.com',
      replyTo: 'support@example.com',
      subject: 'Invoice 42 – ready',
      text: 'Your invoice is ready.',
      html: '<p>Your invoice is ready.</p>',
      // List-Unsubscribe is the `unsubscribe` field's, and SES adds its own with list management (test/unsubscribe/).
      headers: { 'X-Campaign': 'march', 'X-Order': '42' },
      tags: [{ name: 'campaign', value: 'march' }],
      providerOptions: { ses: { listManagement: { contactListName: 'customers', topicName: 'billing' } } },
    });
    await mailer.close();
    const [email] = (await ses.store()).emails;
    expect(result).toMatchObject({ name: 'ses-api', provider: 'ses', mode: 'api', details: { content: 'Simple' } });
    expect(result.providerMessageId).toBe(email?.messageId);
    expect(result.accepted).toEqual(['ann@example.com', 'cc@example.com', 'bcc@example.com']);
    expect(email).toMatchObject({
      from: '"Billing, Inc." <billing@example.com>',
      destination: { to: ['"Ann" <ann@example.com>'], cc: ['cc@example.com'], bcc: ['bcc@example.com'] },
      replyTo: ['support@example.com'],
      subject: 'Invoice 42 – ready',
      body: { text: 'Your invoice is ready.', html: '<p>Your invoice is ready.</p>' },
      headers: [
        { name: 'X-Campaign', value: 'march' },
        { name: 'X-Order', value: '42' },
      ],
    });
    expect(recorder.bodies).toHaveLength(1);
    expect(recorder.bodies[0]).toMatchObject({
      ConfigurationSetName: 'transactional',
      EmailTags: [{ Name: 'campaign', Value: 'march' }],
      ListManagementOptions: { ContactListName: 'customers', TopicName: 'billing' },
      Content: { Simple: { Subject: { Data: 'Invoice 42 – ready', Charset: 'UTF-8' } } },
    });
  });

  it('sends the composed MIME as Raw, byte for byte, when the message has attachments and inline images', async () => {
    const prepared = await prepare({
      from: { name: 'Zoë Café', address: 'zoe@example.com' },
      to: 'ann@example.com',
      bcc: 'audit@example.com',
      replyTo: { name: 'Support', address: 'support@example.com' },
      subject: 'Your report',
      text: 'See attached.',
      html: '<p>Logo: <img src="cid:logo@mailroute"></p>',
      headers: { 'In-Reply-To': '<order-42@example.com>', 'X-Trace': 'abc' },
      attachments: [
        { filename: 'report.csv', contentType: 'text/csv', content: Buffer.from('a,b\n1,2\n').toString('base64') },
        { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw0KGgo=', contentId: 'logo@mailroute' },
      ],
      tags: [{ name: 'kind', value: 'report' }],
      providerOptions: { ses: { configurationSet: 'reports' } },
    });
    const result = await adapter({ endpoint: recorder.url }).send(prepared, {});
    expect(result.details).toEqual({ content: 'Raw' });
    const body = recorder.bodies[0] as { Content: { Raw: { Data: string } } } & Record<string, unknown>;
    expect(Buffer.from(body.Content.Raw.Data, 'base64').equals(prepared.raw)).toBe(true);
    expect(body).toMatchObject({
      FromEmailAddress: 'zoe@example.com',
      Destination: { ToAddresses: ['ann@example.com', 'audit@example.com'] },
      ConfigurationSetName: 'reports',
      EmailTags: [{ Name: 'kind', Value: 'report' }],
    });
    const mime = await simpleParser(Buffer.from(body.Content.Raw.Data, 'base64'));
    expect(mime.from?.value[0]).toEqual({ name: 'Zoë Café', address: 'zoe@example.com' });
    expect(mime.replyTo?.value[0]).toEqual({ name: 'Support', address: 'support@example.com' });
    expect(mime.inReplyTo).toBe('<order-42@example.com>');
    expect(mime.headers.get('x-trace')).toBe('abc');
    const parts = mime.attachments.map((a) => [a.filename, a.contentType, a.cid, a.content.toString('base64')]);
    // The composer puts the inline image with the html (multipart/related), before the regular attachment.
    expect(parts).toEqual([
      ['logo.png', 'image/png', 'logo@mailroute', 'iVBORw0KGgo='],
      ['report.csv', 'text/csv', undefined, Buffer.from('a,b\n1,2\n').toString('base64')],
    ]);
    const [email] = (await ses.store()).emails;
    expect(email?.messageId).toBe(result.providerMessageId);
    expect(email?.subject).toBe('Your report');
    expect(email?.attachments.map((a) => a.filename)).toEqual(['logo.png', 'report.csv']);
  });

  it('takes a client of the caller (the unmodified SDK) and leaves it open on close', async () => {
    const client = new SESv2Client({
      endpoint: ses.url,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const own = new SesApiAdapter(sesConfig({ credentials: undefined }), { client });
    await own.send(await prepare(plain), {});
    await own.close();
    await own.send(await prepare(plain), {});
    expect((await ses.store()).emails).toHaveLength(2);
    client.destroy();
  });

  it('refuses a misspelt provider option, naming it, before sending', async () => {
    const prepared = await prepare({ ...plain, providerOptions: { ses: { listManagment: {} } } });
    await expect(adapter().send(prepared, {})).rejects.toMatchObject({
      name: 'InvalidMessageError',
      issues: [
        { path: 'providerOptions.ses.listManagment', message: 'ses does not support the option "listManagment"' },
      ],
    });
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('declares 50 recipients and 40 MB; the core refuses more before calling SES', async () => {
    const sesApi = adapter();
    expect(sesApi.limits).toEqual({ maxEncodedBytes: 40 * 1024 * 1024, maxRecipients: 50 });
    expect(sesApi.capabilities.tags).toBe(true);
    const config = validateConfig({ providers: [{ ...sesConfig(), name: undefined }] });
    const mailer = new Mailer(config, createAdapter);
    const to = Array.from({ length: 51 }, (_, i) => `r${i}@example.com`);
    await expect(mailer.send({ ...plain, to })).rejects.toBeInstanceOf(MessageTooLargeError);
    await mailer.close();
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('verifies with GetAccount, and names a missing secret', async () => {
    // aws-ses-v2-local answers GetAccount from this variable (its README); the emulator runs in this process.
    process.env.AWS_SES_ACCOUNT = JSON.stringify(account);
    await expect(adapter().verify()).resolves.toBeUndefined();
    const missing = { accessKeyId: { env: 'MR_TEST_UNSET' }, secretAccessKey: { env: 'MR_TEST_SES_SECRET' } };
    expect(() => new SesApiAdapter(sesConfig({ credentials: missing }), { env })).toThrow(ConfigurationError);
  });
});

describe('SES API mode: every error maps to the taxonomy', () => {
  const cases: [string, Fault, new (...args: never[]) => Error, RegExp?][] = [
    ['TooManyRequestsException', { errorCode: 'TooManyRequestsException' }, ThrottledError],
    ['ThrottlingException', { errorCode: 'ThrottlingException' }, ThrottledError],
    ['LimitExceededException (daily quota)', { errorCode: 'LimitExceededException' }, ThrottledError],
    ['SendingPausedException', { errorCode: 'SendingPausedException' }, ProviderUnavailableError],
    ['AccountSuspendedException', { errorCode: 'AccountSuspendedException' }, ProviderUnavailableError],
    [
      'MessageRejected for content',
      { errorCode: 'MessageRejected', message: 'Message contains a virus.' },
      ContentRejectedError,
      /virus/,
    ],
    ['MessageRejected: identity not verified', { errorCode: 'MessageRejected' }, AuthenticationError, /not verified/],
    ['MailFromDomainNotVerifiedException', { errorCode: 'MailFromDomainNotVerifiedException' }, AuthenticationError],
    ['a refused signature (403)', { status: 403, errorCode: 'SignatureDoesNotMatch' }, AuthenticationError],
    ['unknown credentials (403)', { status: 403, errorCode: 'UnrecognizedClientException' }, AuthenticationError],
    ['NotFoundException', { errorCode: 'NotFoundException' }, ConfigurationError],
    ['BadRequestException', { errorCode: 'BadRequestException' }, InvalidMessageError],
    ['InternalServiceErrorException (500)', { errorCode: 'InternalServiceErrorException' }, TransientError],
    ['503', { status: 503 }, TransientError],
    ['504 from the gateway', { status: 504 }, AmbiguousDeliveryError, /may have sent it/],
    ['a connection dropped after the request', { drop: true }, AmbiguousDeliveryError, /idempotency token/],
  ];
  it.each(cases)('%s', async (_name, fault, errorClass, text) => {
    ses.faults.add(fault);
    const error = await adapter()
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject({ provider: 'ses', mode: 'api' });
    if (text) expect((error as Error).message).toMatch(text);
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('keeps the throttle Retry-After and makes one attempt only (the router retries)', async () => {
    ses.faults.add({ errorCode: 'TooManyRequestsException', retryAfter: 2 });
    const error = (await adapter()
      .send(await prepare(plain), {})
      .catch((e: unknown) => e)) as ThrottledError;
    expect(error).toMatchObject({ retryAfterMs: 2000, retryable: true, failover: true });
    expect((error.cause as { $metadata: { attempts: number } }).$metadata.attempts).toBe(1);
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('reports an unreachable endpoint as transient: nothing was sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const error = await adapter({ endpoint: `http://127.0.0.1:${port}` })
      .send(await prepare(plain), {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
  });

  it('ends the call at the deadline, as ambiguous: the request was on its way', async () => {
    ses.faults.add({ latencyMs: 1500 });
    const error = await adapter()
      .send(await prepare(plain), { deadline: Date.now() + 200 })
      .catch((e: unknown) => e);
    // The deadline's abort ended the call: SES would have answered after 1.5 s (and the send succeeded).
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect((error as Error).message).toMatch(/abort/i);
    await expect(adapter().send(await prepare(plain), { deadline: Date.now() - 1 })).rejects.toBeInstanceOf(
      TransientError,
    );
  });

  it('passes the error through Mailer unchanged', async () => {
    ses.faults.add({ errorCode: 'SendingPausedException' });
    const mailer = new Mailer(validateConfig({ providers: [{ ...sesConfig(), name: undefined }] }), createAdapter);
    await expect(mailer.send(plain)).rejects.toMatchObject({ name: 'ProviderUnavailableError', failover: true });
    await mailer.close();
  });
});
