import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { InvalidMessageError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import { type GmailEmulator, startGmailEmulator } from '../../emulators/gmail/index.ts';
import { type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { listOutbox } from '../../providers/local/outbox.ts';
import { smtpAt } from '../helpers/mailer.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';
import {
  expectManagedFields,
  headerFields,
  OWN,
  OWN_FIELDS,
  UNSUB_CONFIG,
  UNSUB_KEY,
  unsubscribeFields,
} from './fields.ts';

// What each provider receives, read where it lands: the SMTP server's DATA, the emulators' stores and requests.
const SENDER = 'news@example.com';
const RECIPIENT = 'ann@example.net';
const ENV = {
  MR_TEST_UNSUB_KEY: UNSUB_KEY,
  SES_KEY_ID: 'AKIDMAILROUTETEST',
  SES_SECRET: 'mailroute-test-secret-key',
  SES_SMTP_USER: 'AKIAMAILROUTETEST001',
  SES_SMTP_PASS: 'ses-smtp-password',
  ACS_CLIENT_SECRET: 'acs~client~secret~0123456789',
  OCI_SMTP_USER: 'ocid1.user.oc1..aaaatest@ocid1.tenancy.oc1..bbbbtest',
  OCI_SMTP_PASS: 'oci-smtp-pass',
};
const TENANCY = 'ocid1.tenancy.oc1..aaaatesttenancy';
const OCI_USER = 'ocid1.user.oc1..aaaatestuser';
const FINGERPRINT = '11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00';
const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const ociKey = rsa();
const gmailKey = rsa();

let smtp: TestSmtpServer;
let ses: SesEmulator;
let sesRequests: { url: string; bodies: Record<string, unknown>[]; server: Server };
let acs: AcsEmulator;
let oci: OciEmulator;
let gmail: GmailEmulator;
const mailers: Mailer[] = [];

/** A mailer with one entry and the `unsubscribe` block, validated against the built-in providers. */
function mailerWith(entry: Record<string, unknown>, extra: Record<string, unknown> = {}): Mailer {
  const config = validateConfig({ providers: [entry], unsubscribe: UNSUB_CONFIG, ...extra }, 'test', builtInProviders);
  const mailer = new Mailer(config, createAdapter, { providers: builtInProviders });
  mailers.push(mailer);
  return mailer;
}
const news = (extra: Record<string, unknown> = {}) => ({
  from: `News <${SENDER}>`,
  to: 'Ann <Ann@example.net>',
  subject: 'This week',
  text: 'Hello',
  unsubscribe: OWN,
  ...extra,
});
const managed = (extra: Record<string, unknown> = {}) => news({ unsubscribe: { oneClick: true }, ...extra });
const attachment = { attachments: [{ filename: 'notes.txt', content: Buffer.from('notes').toString('base64') }] };
const pairs = (headers: unknown) =>
  Array.isArray(headers)
    ? (headers as { Name?: string; Value?: string; name?: string; value?: string }[]).map((h): [string, string] => [
        h.Name ?? h.name ?? '',
        h.Value ?? h.value ?? '',
      ])
    : Object.entries(headers as Record<string, string>);

/** The `Content` of the first SendEmail request. */
const sesContent = () => sesRequests.bodies[0]!.Content as { Simple?: { Headers: unknown }; Raw?: { Data: string } };

/** A pass-through proxy in front of the SES emulator that keeps each SendEmail body: its store parses Raw away. */
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

beforeAll(async () => {
  for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);
  vi.stubEnv('MR_TEST_OCI_KEY', ociKey.privateKey);
  vi.stubEnv('MR_TEST_GMAIL_KEY', gmailKey.privateKey);
  // The OCI SDK console.warns about retries on its own.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  [smtp, ses, acs, oci, gmail] = await Promise.all([
    startTestSmtpServer({ authOptional: true }),
    startSesEmulator(),
    startAcsEmulator({ runningPolls: 0 }),
    startOciEmulator({
      port: 0,
      keys: [{ keyId: `${TENANCY}/${OCI_USER}/${FINGERPRINT}`, publicKeyPem: ociKey.publicKey }],
    }),
    startGmailEmulator({
      port: 0,
      serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: gmailKey.publicKey }],
      delegatedUsers: [SENDER],
    }),
  ]);
  sesRequests = await startRecorder(ses.url);
  vi.stubEnv('MR_TEST_ACS_CS', acs.connectionString);
});
afterEach(async () => {
  await Promise.all(mailers.splice(0).map((m) => m.close()));
  smtp.received.length = 0;
  sesRequests.bodies.length = 0;
  await ses.clear();
  acs.reset();
  oci.reset();
  gmail.reset();
});
afterAll(async () => {
  await Promise.all([smtp.close(), ses.close(), acs.close(), oci.close(), gmail.close()]);
  await new Promise((resolve) => sesRequests.server.close(resolve));
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('the local capture inbox', () => {
  it.each(['smtp', 'api'])('keeps both fields, exact, in the .eml of %s mode', async (mode) => {
    const outboxDir = mkdtempSync(join(tmpdir(), 'mr-unsub-'));
    const mailer = mailerWith({ provider: 'local', mode }, { outboxDir });
    await mailer.send(news());
    await mailer.send(managed());
    const files = (await listOutbox(outboxDir)).map((s) => readFileSync(s.file));
    const fields = files.map((raw) => unsubscribeFields(raw));
    expect(fields).toContainEqual(OWN_FIELDS);
    const other = fields.find((f) => f[0]?.[1] !== OWN_FIELDS[0]![1]);
    expectManagedFields(other ?? [], RECIPIENT, SENDER);
  });
});

describe('Amazon SES', () => {
  const sesApi = { provider: 'ses', mode: 'api', region: 'eu-west-1' };
  const credentials = { accessKeyId: { env: 'SES_KEY_ID' }, secretAccessKey: { env: 'SES_SECRET' } };
  const api = () => mailerWith({ ...sesApi, endpoint: sesRequests.url, credentials });

  it('API, Simple content: both fields in Headers, exact, as SES stores them', async () => {
    const result = await api().send(news());
    expect(result.details).toMatchObject({ content: 'Simple' });
    const simple = sesContent().Simple!;
    expect(pairs(simple.Headers)).toEqual(OWN_FIELDS);
    const [stored] = (await ses.store()).emails;
    expect(pairs(stored?.headers)).toEqual(OWN_FIELDS);
  });

  it('API, Raw content (an attachment): both fields in the MIME, exact', async () => {
    const result = await api().send(news(attachment));
    expect(result.details).toMatchObject({ content: 'Raw' });
    const raw = Buffer.from(sesContent().Raw!.Data, 'base64');
    expect(unsubscribeFields(raw)).toEqual(OWN_FIELDS);
  });

  it('API: a mailroute-made one-click link goes in Headers', async () => {
    await api().send(managed());
    const simple = sesContent().Simple!;
    expectManagedFields(pairs(simple.Headers), RECIPIENT, SENDER);
  });

  it.each(['api', 'smtp'])(
    'refuses unsubscribe together with listManagement in %s mode, where SES adds its own',
    async (mode) => {
      const mailer =
        mode === 'api'
          ? api()
          : mailerWith({
              provider: 'ses',
              mode: 'smtp',
              region: 'eu-west-1',
              smtpCredentials: { username: { env: 'SES_SMTP_USER' }, password: { env: 'SES_SMTP_PASS' } },
              smtp: smtpAt(smtp),
            });
      const before = ses.received();
      const send = mailer.send(news({ providerOptions: { ses: { listManagement: { contactListName: 'news' } } } }));
      await expect(send).rejects.toBeInstanceOf(InvalidMessageError);
      await expect(send).rejects.toMatchObject({ issues: [{ path: 'unsubscribe' }] });
      expect(ses.received()).toBe(before);
      expect(smtp.received).toEqual([]);
    },
  );
});

describe('every SMTP mode: the fields in the DATA the server received', () => {
  const entries: Record<string, () => Record<string, unknown>> = {
    'ses smtp': () => ({
      provider: 'ses',
      mode: 'smtp',
      region: 'eu-west-1',
      smtpCredentials: { username: { env: 'SES_SMTP_USER' }, password: { env: 'SES_SMTP_PASS' } },
      smtp: smtpAt(smtp),
    }),
    'azure smtp': () => ({
      provider: 'azure',
      mode: 'smtp',
      resourceName: 'contoso-acs',
      entra: {
        tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
        clientId: '0a1b2c3d-0000-4000-8000-123456789abc',
        clientSecret: { env: 'ACS_CLIENT_SECRET' },
      },
      smtp: smtpAt(smtp),
    }),
    'gmail smtp': () => ({ provider: 'gmail', mode: 'smtp', domain: 'example.com', smtp: smtpAt(smtp) }),
    'oci smtp': () => ({
      provider: 'oci',
      mode: 'smtp',
      region: 'eu-frankfurt-1',
      smtpCredentials: { username: { env: 'OCI_SMTP_USER' }, password: { env: 'OCI_SMTP_PASS' } },
      smtp: smtpAt(smtp),
    }),
  };

  it.each(Object.keys(entries))('%s', async (name) => {
    const mailer = mailerWith(entries[name]!());
    await mailer.send(news());
    await mailer.send(managed());
    const [own, made] = smtp.received;
    expect(unsubscribeFields(own!.raw)).toEqual(OWN_FIELDS);
    expectManagedFields(unsubscribeFields(made!.raw), RECIPIENT, SENDER);
    // Nothing else in the message is disturbed: one of each field, in RFC 8058's order.
    expect(headerFields(own!.raw).filter(([n]) => /^list-/i.test(n))).toEqual(OWN_FIELDS);
  });
});

describe('DKIM over SMTP', () => {
  it('covers both fields, as RFC 8058 requires of a one-click message', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    vi.stubEnv('MR_TEST_DKIM_KEY', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const dkim = { domainName: 'example.com', keySelector: 'mr2026', privateKey: { env: 'MR_TEST_DKIM_KEY' } };
    const mailer = mailerWith({ provider: 'gmail', mode: 'smtp', domain: 'example.com', smtp: smtpAt(smtp, { dkim }) });
    await mailer.send(news());
    const signature = headerFields(smtp.received[0]!.raw).find(([n]) => n === 'DKIM-Signature')?.[1] ?? '';
    const signed = /\bh=([^;]+)/.exec(signature)?.[1]?.replace(/\s+/g, '').toLowerCase().split(':');
    expect(signed).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post']));
  });
});

describe('Azure Communication Services API', () => {
  it('carries both fields in the request body’s headers, exact', async () => {
    const mailer = mailerWith({ provider: 'azure', mode: 'api', connectionString: { env: 'MR_TEST_ACS_CS' } });
    await mailer.send(news());
    await mailer.send(managed());
    const [own, made] = acs.store.emails;
    expect(pairs(own?.body.headers)).toEqual(OWN_FIELDS);
    expectManagedFields(pairs(made?.body.headers), RECIPIENT, SENDER);
  });
});

describe('OCI Email Delivery API', () => {
  const entry = () => ({
    provider: 'oci',
    mode: 'api',
    region: 'us-ashburn-1',
    endpoint: oci.url,
    compartmentId: 'ocid1.compartment.oc1..aaaatestcompartment',
    apiKey: { tenancy: TENANCY, user: OCI_USER, fingerprint: FINGERPRINT, privateKey: { env: 'MR_TEST_OCI_KEY' } },
  });

  it('submitEmail: both fields in headerFields, exact; submitRawEmail: in the MIME', async () => {
    const mailer = mailerWith(entry());
    await mailer.send(news());
    await mailer.send(managed());
    await mailer.send(news(attachment));
    const [own, made, raw] = oci.store;
    expect(own?.operation).toBe('submitEmail');
    expect(pairs(own?.details?.headerFields)).toEqual(OWN_FIELDS);
    expectManagedFields(pairs(made?.details?.headerFields), RECIPIENT, SENDER);
    expect(raw?.operation).toBe('submitRawEmail');
    expect(unsubscribeFields(raw!.raw!)).toEqual(OWN_FIELDS);
  });
});

describe('Gmail API', () => {
  it('both fields in the raw MIME Gmail received, exact', async () => {
    const mailer = mailerWith({
      provider: 'gmail',
      mode: 'api',
      endpoint: gmail.url,
      serviceAccount: {
        clientEmail: SERVICE_ACCOUNT,
        privateKey: { env: 'MR_TEST_GMAIL_KEY' },
        tokenUrl: gmail.tokenUrl,
      },
      user: SENDER,
    });
    await mailer.send(news());
    await mailer.send(managed());
    const [own, made] = gmail.store;
    expect(unsubscribeFields(own!.raw)).toEqual(OWN_FIELDS);
    expectManagedFields(unsubscribeFields(made!.raw), RECIPIENT, SENDER);
  });
});
