import { generateKeyPairSync } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageTooLargeError, UnsupportedFeatureError } from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { expectRichMime, mailerFor, RICH_ENVELOPE, smtpAt } from '../helpers/mailer.ts';
import { plainMessage, richMessage } from '../helpers/messages.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';
import { startTokenEndpoint, type TokenEndpoint } from '../helpers/token-endpoint.ts';

const SECRETS = {
  SES_SMTP_USER: 'AKIAMAILROUTETEST001',
  SES_SMTP_PASS: 'BN3dfUgCqB9+ses-smtp-password/test',
  SES_ACCESS_KEY_ID: 'AKIAMAILROUTEIAMKEY1',
  // A published test vector (terraform-provider-aws): in eu-central-1 it gives the password below.
  SES_SECRET_ACCESS_KEY: 'some+secret+key',
  ACS_CLIENT_SECRET: 'acs~client~secret~0123456789',
  GMAIL_SMTP_USER: 'relay@example.com',
  GMAIL_SMTP_PASS: 'gmail-app-password-abcd',
  OCI_SMTP_USER: 'ocid1.user.oc1..aaaatest@ocid1.tenancy.oc1..bbbbtest',
  OCI_SMTP_PASS: 'oci-smtp-pass:8Xy!q',
};
const DERIVED_SES_PASSWORD = 'BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2';

let server: TestSmtpServer;
const mailers: Mailer[] = [];
const open = (entry: Record<string, unknown>) => {
  const mailer = mailerFor(entry);
  mailers.push(mailer);
  return mailer;
};

beforeAll(async () => {
  for (const [name, value] of Object.entries(SECRETS)) vi.stubEnv(name, value);
  server = await startTestSmtpServer();
});
afterEach(async () => {
  await Promise.all(mailers.splice(0).map((m) => m.close()));
  server.received.length = 0;
  server.auths.length = 0;
  server.ehloNames.length = 0;
  server.acceptReply = 'OK: queued';
});
afterAll(async () => {
  await server.close();
  vi.unstubAllEnvs();
});

describe('Amazon SES over SMTP', () => {
  const ses = (extra: Record<string, unknown> = {}) => ({
    provider: 'ses',
    mode: 'smtp',
    region: 'eu-central-1',
    configurationSet: 'transactional',
    smtpCredentials: { username: { env: 'SES_SMTP_USER' }, password: { env: 'SES_SMTP_PASS' } },
    smtp: smtpAt(server, { ehloName: 'mailer.example.com' }),
    ...extra,
  });

  it('sends the composed message with its envelope, configuration set and tags through Mailer', async () => {
    server.acceptReply = 'Ok 0102018c5f1b2a3d-7c9e0f11-2222-4444-8888-abcdefabcdef-000000';
    const mailer = open(ses());
    const result = await mailer.send(
      richMessage({
        tags: [
          { name: 'campaign', value: 'q3' },
          { name: 'team', value: 'growth' },
        ],
      }),
    );
    expect(result).toMatchObject({ provider: 'ses', mode: 'smtp', rejected: [] });
    expect(result.accepted).toEqual(RICH_ENVELOPE.to);
    expect(result.providerMessageId).toBe('0102018c5f1b2a3d-7c9e0f11-2222-4444-8888-abcdefabcdef-000000');
    expect(server.auths).toEqual([
      expect.objectContaining({ username: SECRETS.SES_SMTP_USER, password: SECRETS.SES_SMTP_PASS, secure: true }),
    ]);
    const [received] = server.received;
    expect(received?.envelope).toEqual(RICH_ENVELOPE);
    expect(received?.ehlo).toBe('mailer.example.com');
    expect(received?.secure).toBe(true);
    const parsed = await expectRichMime(received!.raw);
    expect(parsed.headers.get('x-ses-configuration-set')).toBe('transactional');
    expect(parsed.headers.get('x-ses-message-tags')).toBe('campaign=q3, team=growth');
    expect(parsed.messageId).toBe(result.messageId);
  });

  it("carries the message's configuration set and list management as X-SES-* headers, over the configured set", async () => {
    const mailer = open(ses());
    const listManagement = { contactListName: 'customers', topicName: 'billing' };
    await mailer.send({
      ...plainMessage(),
      providerOptions: { ses: { configurationSet: 'marketing', listManagement } },
    });
    await mailer.send({ ...plainMessage(), providerOptions: { ses: { listManagement: { contactListName: 'all' } } } });
    const [first, second] = await Promise.all(server.received.map((r) => simpleParser(r.raw)));
    expect(first?.headers.get('x-ses-configuration-set')).toBe('marketing');
    expect(first?.headers.get('x-ses-list-management-options')).toBe('customers; topic=billing');
    expect(second?.headers.get('x-ses-configuration-set')).toBe('transactional');
    expect(second?.headers.get('x-ses-list-management-options')).toBe('all');
  });

  it('signs in with the IAM access key id and the password derived for the region', async () => {
    const mailer = open(
      ses({
        smtpCredentials: undefined,
        credentials: { accessKeyId: { env: 'SES_ACCESS_KEY_ID' }, secretAccessKey: { env: 'SES_SECRET_ACCESS_KEY' } },
      }),
    );
    await mailer.send(plainMessage());
    expect(server.auths[0]).toMatchObject({ username: SECRETS.SES_ACCESS_KEY_ID, password: DERIVED_SES_PASSWORD });
  });

  it('signs with DKIM when smtp.dkim is set', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    vi.stubEnv('SES_DKIM_KEY', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\\n'));
    const dkim = { domainName: 'example.com', keySelector: 'mr2026', privateKey: { env: 'SES_DKIM_KEY' } };
    const mailer = open(ses({ smtp: smtpAt(server, { dkim }) }));
    await mailer.send(plainMessage());
    const parsed = await simpleParser(server.received[0]!.raw);
    const signature = parsed.headerLines.find((h) => h.key === 'dkim-signature')?.line.replace(/\r?\n\s+/g, ' ');
    expect(signature).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
    expect(signature).toMatch(/ s=mr2026;/);
    expect(parsed.headers.get('x-ses-configuration-set')).toBe('transactional');
  });

  it('refuses more than 50 recipients before connecting', async () => {
    const mailer = open(ses());
    const to = Array.from({ length: 51 }, (_, i) => `r${i}@example.net`);
    await expect(mailer.send(plainMessage(to))).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(server.auths).toEqual([]);
  });

  it('lets a send under way finish when it is closed', async () => {
    const adapter = await open(ses()).adapter();
    const prepared = await composeMessage(normalizeMessage(plainMessage()));
    const sending = adapter.send(prepared, {});
    await adapter.close();
    await expect(sending).resolves.toMatchObject({ accepted: ['ann@example.net'], rejected: [] });
    expect(server.received).toHaveLength(1);
  });

  it('verifies the connection: EHLO, STARTTLS and AUTH, without sending', async () => {
    const mailer = open(ses());
    expect(await mailer.verify()).toEqual([{ name: 'ses-smtp', provider: 'ses', mode: 'smtp', ok: true }]);
    expect(server.auths).toEqual([expect.objectContaining({ username: SECRETS.SES_SMTP_USER, secure: true })]);
    expect(server.received).toEqual([]);
  });
});

describe('Azure Communication Services Email over SMTP', () => {
  const azure = (extra: Record<string, unknown> = {}) => ({
    provider: 'azure',
    mode: 'smtp',
    resourceName: 'contoso-acs',
    entra: {
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      clientId: '0a1b2c3d-0000-4000-8000-123456789abc',
      clientSecret: { env: 'ACS_CLIENT_SECRET' },
    },
    smtp: smtpAt(server),
    ...extra,
  });

  it('signs in as resource|app|tenant with the client secret and delivers the message', async () => {
    const mailer = open(azure());
    const result = await mailer.send(richMessage());
    expect(result.accepted).toEqual(RICH_ENVELOPE.to);
    expect(server.auths).toEqual([
      expect.objectContaining({
        username: 'contoso-acs|0a1b2c3d-0000-4000-8000-123456789abc|72f988bf-86f1-41af-91ab-2d7cd011db47',
        password: SECRETS.ACS_CLIENT_SECRET,
        secure: true,
      }),
    ]);
    expect(server.received[0]?.envelope).toEqual(RICH_ENVELOPE);
    await expectRichMime(server.received[0]!.raw);
  });

  it('refuses a per-message engagementTracking, which only the API carries, instead of dropping it', async () => {
    const mailer = open(azure());
    const send = mailer.send({ ...plainMessage(), providerOptions: { azure: { engagementTracking: false } } });
    await expect(send).rejects.toBeInstanceOf(UnsupportedFeatureError);
    await expect(send).rejects.toMatchObject({
      message: 'azure does not support the option "engagementTracking" in smtp mode',
      path: 'providerOptions.azure.engagementTracking',
    });
    expect(server.received).toEqual([]);
  });

  it('uses a named SMTP username when one is given', async () => {
    const mailer = open(azure({ smtpUsername: 'notifications-smtp' }));
    await mailer.send(plainMessage());
    expect(server.auths[0]).toMatchObject({ username: 'notifications-smtp', password: SECRETS.ACS_CLIENT_SECRET });
  });

  it('refuses tags, which SMTP cannot carry to ACS, instead of dropping them', async () => {
    const mailer = open(azure());
    const send = mailer.send({ ...plainMessage(), tags: [{ name: 'campaign', value: 'q3' }] });
    await expect(send).rejects.toBeInstanceOf(UnsupportedFeatureError);
    await expect(send).rejects.toThrow('azure does not support tags in smtp mode');
  });

  it('verifies', async () => {
    const [report] = await open(azure()).verify();
    expect(report?.ok).toBe(true);
  });
});

describe('Gmail over SMTP', () => {
  let relay: TestSmtpServer;
  let tokens: TokenEndpoint;
  const serviceKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  beforeAll(async () => {
    relay = await startTestSmtpServer({ authOptional: true });
    tokens = await startTokenEndpoint(serviceKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    vi.stubEnv('GMAIL_SA_KEY', serviceKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  });
  afterAll(async () => {
    await relay.close();
    await tokens.close();
  });

  it('relays from an allow-listed IP without AUTH, presenting the domain in EHLO', async () => {
    const mailer = open({ provider: 'gmail', mode: 'smtp', domain: 'example.com', smtp: smtpAt(relay) });
    const result = await mailer.send(richMessage());
    expect(result.accepted).toEqual(RICH_ENVELOPE.to);
    expect(relay.auths).toEqual([]);
    expect(relay.received[0]).toMatchObject({ ehlo: 'example.com', envelope: RICH_ENVELOPE, secure: true });
    await expectRichMime(relay.received[0]!.raw);
    expect((await mailer.verify())[0]?.ok).toBe(true);
  });

  it('relays with SMTP AUTH', async () => {
    const mailer = open({
      provider: 'gmail',
      mode: 'smtp',
      domain: 'example.com',
      smtpAuth: 'password',
      smtpCredentials: { username: { env: 'GMAIL_SMTP_USER' }, password: { env: 'GMAIL_SMTP_PASS' } },
      smtp: smtpAt(server),
    });
    await mailer.send(richMessage());
    expect(server.auths).toEqual([
      expect.objectContaining({
        username: SECRETS.GMAIL_SMTP_USER,
        password: SECRETS.GMAIL_SMTP_PASS,
        ehlo: 'example.com',
        secure: true,
      }),
    ]);
    expect(server.received[0]?.envelope).toEqual(RICH_ENVELOPE);
    await expectRichMime(server.received[0]!.raw);
  });

  it('signs in with XOAUTH2 as the user, with one service-account token for every connection', async () => {
    const mailer = open({
      provider: 'gmail',
      mode: 'smtp',
      smtpAuth: 'xoauth2',
      user: 'ops@example.com',
      serviceAccount: {
        clientEmail: 'mailroute@project.iam.gserviceaccount.com',
        privateKey: { env: 'GMAIL_SA_KEY' },
        tokenUrl: tokens.url,
      },
      // One message per connection: the second one needs a new connection, and no new token.
      smtp: smtpAt(server, { ehloName: 'mx.example.com', pool: { maxConnections: 1, maxMessages: 1 } }),
    });
    await mailer.send(plainMessage());
    await mailer.send(plainMessage());
    expect(server.received).toHaveLength(2);
    expect(tokens.grants).toEqual([
      expect.objectContaining({
        iss: 'mailroute@project.iam.gserviceaccount.com',
        sub: 'ops@example.com',
        scope: 'https://mail.google.com/',
        aud: tokens.url,
      }),
    ]);
    expect(server.auths).toEqual([
      expect.objectContaining({ method: 'XOAUTH2', username: 'ops@example.com', accessToken: 'ya29.test-token-1' }),
      expect.objectContaining({ method: 'XOAUTH2', username: 'ops@example.com', accessToken: 'ya29.test-token-1' }),
    ]);
    expect((await mailer.verify())[0]?.ok).toBe(true);
    expect(server.auths[2]).toMatchObject({ method: 'XOAUTH2', accessToken: 'ya29.test-token-1' });
    expect(tokens.grants).toHaveLength(1);
  });

  it('takes 100 recipients in one transaction and refuses 101', async () => {
    const mailer = open({ provider: 'gmail', mode: 'smtp', domain: 'example.com', smtp: smtpAt(relay) });
    const to = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@example.net`);
    expect((await mailer.send(plainMessage(to(100)))).accepted).toHaveLength(100);
    await expect(mailer.send(plainMessage(to(101)))).rejects.toBeInstanceOf(MessageTooLargeError);
  });
});

describe('OCI Email Delivery over SMTP', () => {
  const oci = (target: TestSmtpServer, extra: Record<string, unknown> = {}) => ({
    provider: 'oci',
    mode: 'smtp',
    region: 'eu-frankfurt-1',
    smtpCredentials: { username: { env: 'OCI_SMTP_USER' }, password: { env: 'OCI_SMTP_PASS' } },
    smtp: smtpAt(target, extra),
  });

  it('signs in with the SMTP credentials and delivers the message', async () => {
    const mailer = open(oci(server));
    const result = await mailer.send(richMessage());
    expect(result.accepted).toEqual(RICH_ENVELOPE.to);
    expect(server.auths).toEqual([
      expect.objectContaining({ username: SECRETS.OCI_SMTP_USER, password: SECRETS.OCI_SMTP_PASS, secure: true }),
    ]);
    expect(server.received[0]?.envelope).toEqual(RICH_ENVELOPE);
    await expectRichMime(server.received[0]!.raw);
    expect((await mailer.verify())[0]?.ok).toBe(true);
  });

  it('signs in with AUTH LOGIN when that is all the server offers', async () => {
    const loginOnly = await startTestSmtpServer({ authMethods: ['LOGIN'] });
    try {
      await open(oci(loginOnly)).send(plainMessage());
      expect(loginOnly.auths).toEqual([
        expect.objectContaining({ method: 'LOGIN', username: SECRETS.OCI_SMTP_USER, password: SECRETS.OCI_SMTP_PASS }),
      ]);
      expect(loginOnly.received).toHaveLength(1);
    } finally {
      await Promise.all(mailers.splice(0).map((m) => m.close()));
      await loginOnly.close();
    }
  });

  it('speaks implicit TLS from the first byte (the 465 style)', async () => {
    const tlsServer = await startTestSmtpServer({ secure: true });
    try {
      const mailer = open(oci(tlsServer, { secure: true }));
      await mailer.send(plainMessage());
      expect(tlsServer.received[0]?.secure).toBe(true);
      expect(tlsServer.auths[0]).toMatchObject({ username: SECRETS.OCI_SMTP_USER, secure: true });
    } finally {
      await Promise.all(mailers.splice(0).map((m) => m.close()));
      await tlsServer.close();
    }
  });
});
