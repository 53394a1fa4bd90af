import { generateKeyPairSync } from 'node:crypto';
import { GetEmailIdentityCommand, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SimpleAuthenticationDetailsProvider } from 'oci-common';
import { EmailClient } from 'oci-email';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeliverabilityContext } from '../../core/contract/deliverability.ts';
import { emailDomainWithDkim, type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';
import { easyDkimIdentity } from '../../emulators/ses/identities.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/proxy.ts';
import type { OciConfig } from '../../providers/oci/config.ts';
import { expectSetup as ociSetup } from '../../providers/oci/deliverability.ts';
import type { SesConfig } from '../../providers/ses/config.ts';
import { expectSetup as sesSetup } from '../../providers/ses/deliverability.ts';
import { closedPort } from '../helpers/failover.ts';

const api: DeliverabilityContext = { useApi: true, timeoutMs: 5_000 };

const SES_KEY = 'AKIDDELIVERABILITY01';
const SES_SECRET = 'deliverability-test-secret-0123456789';
const WRONG_SECRET = 'not-the-secret-of-this-key-9876543210';
const env = { MR_TEST_DLV_KEY: SES_KEY, MR_TEST_DLV_SECRET: SES_SECRET, MR_TEST_DLV_WRONG: WRONG_SECRET };
const TOKENS = ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)];

const TENANCY = 'ocid1.tenancy.oc1..aaaadeliverability';
const USER = 'ocid1.user.oc1..aaaadeliverability';
const FINGERPRINT = '00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaadeliverability';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const ociKey = rsa();
const otherKey = rsa();
/** The base64 body of a PEM, which must never appear in a note. */
const pemBody = (pem: string) => pem.split('\n').slice(1, 3).join('');

let ses: SesEmulator;
let oci: OciEmulator;
let closed: string;

const sesEntry = (over: Partial<SesConfig> = {}): SesConfig => ({
  name: 'ses',
  provider: 'ses',
  mode: 'api',
  region: 'eu-west-1',
  endpoint: ses.url,
  credentials: { accessKeyId: { env: 'MR_TEST_DLV_KEY' }, secretAccessKey: { env: 'MR_TEST_DLV_SECRET' } },
  ...over,
});
const ociEntry = (over: Partial<OciConfig> = {}): OciConfig => ({
  name: 'oci',
  provider: 'oci',
  mode: 'api',
  region: 'us-ashburn-1',
  endpoint: oci.url,
  compartmentId: COMPARTMENT,
  apiKey: { tenancy: TENANCY, user: USER, fingerprint: FINGERPRINT, privateKey: { env: 'MR_TEST_DLV_OCI_KEY' } },
  ...over,
});

beforeAll(async () => {
  // oci-common console.warns every failed call; the bad-signature and unreachable cases provoke some.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  Object.assign(process.env, env, {
    MR_TEST_DLV_OCI_KEY: ociKey.privateKey,
    MR_TEST_DLV_OCI_OTHER: otherKey.privateKey,
  });
  ses = await startSesEmulator({ port: 0, credentials: [{ accessKeyId: SES_KEY, secretAccessKey: SES_SECRET }] });
  oci = await startOciEmulator({
    port: 0,
    keys: [{ keyId: `${TENANCY}/${USER}/${FINGERPRINT}`, publicKeyPem: ociKey.publicKey }],
  });
  closed = `http://127.0.0.1:${await closedPort()}`;
});
afterAll(async () => {
  await ses.close();
  await oci.close();
  for (const name of [...Object.keys(env), 'MR_TEST_DLV_OCI_KEY', 'MR_TEST_DLV_OCI_OTHER']) delete process.env[name];
  vi.restoreAllMocks();
});
beforeEach(async () => {
  await ses.clear();
  for (const name of ['example.com', 'b.example.com', 'a.b.example.com', 'example.org'])
    ses.setIdentity(name, undefined);
  oci.reset();
  oci.setEmailDomains([]);
});

describe('the SES emulator: GetEmailIdentity as the SES v2 model has it', () => {
  it('answers a configured identity to the unmodified SDK, and NotFoundException (404, x-amzn-ErrorType) otherwise', async () => {
    ses.setIdentity(
      'Example.com',
      easyDkimIdentity('example.com', { tokens: TOKENS, mailFromDomain: 'mail.example.com' }),
    );
    const client = new SESv2Client({
      region: 'eu-west-1',
      endpoint: ses.url,
      credentials: { accessKeyId: SES_KEY, secretAccessKey: SES_SECRET },
    });
    try {
      const found = await client.send(new GetEmailIdentityCommand({ EmailIdentity: 'example.com' }));
      expect(found).toMatchObject({
        IdentityType: 'DOMAIN',
        VerifiedForSendingStatus: true,
        VerificationStatus: 'SUCCESS',
        DkimAttributes: { SigningEnabled: true, Status: 'SUCCESS', Tokens: TOKENS, SigningAttributesOrigin: 'AWS_SES' },
        MailFromAttributes: {
          MailFromDomain: 'mail.example.com',
          MailFromDomainStatus: 'SUCCESS',
          BehaviorOnMxFailure: 'USE_DEFAULT_VALUE',
        },
      });
      // A rest-json timestamp (epoch seconds) that the SDK parsed into a Date.
      expect(found.DkimAttributes?.LastKeyGenerationTimestamp).toBeInstanceOf(Date);
      const missing = await client
        .send(new GetEmailIdentityCommand({ EmailIdentity: 'other.example' }))
        .catch((error: unknown) => error);
      expect(missing).toMatchObject({ name: 'NotFoundException', $metadata: { httpStatusCode: 404 } });
    } finally {
      client.destroy();
    }
    const raw = await fetch(`${ses.url}/v2/email/identities/other.example`, {
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x' },
    });
    // With trusted keys configured, a header that is no SigV4 signature is refused before the lookup.
    expect(raw.status).toBe(403);
    expect(raw.headers.get('x-amzn-errortype')).toBe('IncompleteSignatureException');
  });

  it('with trusted keys, verifies the SigV4 signature of forwarded operations too (SendEmail, its body hashed)', async () => {
    const send = (secretAccessKey: string) => {
      const client = new SESv2Client({
        region: 'eu-west-1',
        endpoint: ses.url,
        credentials: { accessKeyId: SES_KEY, secretAccessKey },
      });
      const input = {
        FromEmailAddress: 'app@example.com',
        Destination: { ToAddresses: ['user@example.net'] },
        Content: { Simple: { Subject: { Data: 'Hi' }, Body: { Text: { Data: 'Hello' } } } },
      };
      return client
        .send(new SendEmailCommand(input))
        .then(
          (output) => output.MessageId,
          (error: unknown) => error,
        )
        .finally(() => client.destroy());
    };
    expect(await send(SES_SECRET)).toEqual(expect.any(String));
    expect(await send(WRONG_SECRET)).toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    expect((await ses.store()).emails).toHaveLength(1);
  });

  it('easyDkimIdentity makes three random 32-character lowercase tokens', () => {
    const tokens = easyDkimIdentity('example.com').DkimAttributes?.Tokens ?? [];
    expect(tokens).toHaveLength(3);
    for (const token of tokens) expect(token).toMatch(/^[a-z0-9]{32}$/);
    expect(new Set(tokens).size).toBe(3);
  });
});

describe('SES: the identity as GetEmailIdentity tells it', () => {
  it('a verified Easy DKIM identity: three CNAMEs into dkim.amazonses.com, its status, amazonses.com as envelope', async () => {
    ses.setIdentity('example.com', easyDkimIdentity('example.com', { tokens: TOKENS }));
    const setup = await sesSetup(sesEntry(), 'example.com', api);
    expect(setup).toMatchObject({ source: 'api', verified: true, dkimStatus: 'SUCCESS' });
    expect(setup.dkim).toEqual(TOKENS.map((t) => ({ selector: t, cname: `${t}.dkim.amazonses.com` })));
    expect(setup.envelope).toEqual({ domain: 'amazonses.com' });
    expect(setup.spf).toEqual({ includes: ['amazonses.com'] });
    expect(setup.steps).toBeUndefined();
    expect(setup.note).toContain('identity example.com');
  });

  it('a pending identity is not verified, and its CNAMEs point into SigningHostedZone when SES names one', async () => {
    const identity = easyDkimIdentity('example.com', {
      tokens: TOKENS,
      status: 'PENDING',
      signingHostedZone: 'dkim.example-zone.amazonses.com',
    });
    ses.setIdentity('example.com', identity);
    const setup = await sesSetup(sesEntry(), 'example.com', api);
    expect(setup).toMatchObject({ source: 'api', verified: false, dkimStatus: 'PENDING' });
    expect(setup.dkim?.map((k) => k.cname)).toEqual(TOKENS.map((t) => `${t}.dkim.example-zone.amazonses.com`));
    expect(setup.note).toContain('not verified for sending (verification PENDING)');
  });

  it('a custom MAIL FROM domain: the envelope with its feedback-smtp MX; a status other than SUCCESS is noted', async () => {
    ses.setIdentity('example.org', easyDkimIdentity('example.org', { mailFromDomain: 'mail.example.org' }));
    const ok = await sesSetup(sesEntry(), 'example.org', api);
    expect(ok.envelope).toEqual({ domain: 'mail.example.org', mx: ['feedback-smtp.eu-west-1.amazonses.com'] });
    expect(ok.note).not.toContain('mail.example.org is');

    ses.setIdentity(
      'example.org',
      easyDkimIdentity('example.org', { mailFromDomain: 'mail.example.org', mailFromStatus: 'FAILED' }),
    );
    const failed = await sesSetup(sesEntry({ region: 'us-east-1' }), 'example.org', api);
    expect(failed.envelope).toEqual({ domain: 'mail.example.org', mx: ['feedback-smtp.us-east-1.amazonses.com'] });
    expect(failed.note).toContain(
      'custom MAIL FROM mail.example.org is FAILED: SES uses amazonses.com until it succeeds',
    );
  });

  it('BYODKIM gives the selector without a CNAME; signing turned off gives no key and a step', async () => {
    const byo = easyDkimIdentity('example.com');
    byo.DkimAttributes = { ...byo.DkimAttributes, SigningAttributesOrigin: 'EXTERNAL', Tokens: ['mysel2026'] };
    ses.setIdentity('example.com', byo);
    const external = await sesSetup(sesEntry(), 'example.com', api);
    expect(external.dkim).toEqual([{ selector: 'mysel2026' }]);
    expect(external.note).toContain('Bring Your Own DKIM');

    const off = easyDkimIdentity('example.com', { signingEnabled: false });
    ses.setIdentity('example.com', off);
    const disabled = await sesSetup(sesEntry(), 'example.com', api);
    expect(disabled.dkim).toEqual([]);
    expect(disabled.steps).toEqual(['enable DKIM signing for the identity example.com in SES (eu-west-1)']);
  });

  it('no identity: not verified, no keys, and the step to create it (parents tried and named)', async () => {
    const setup = await sesSetup(sesEntry(), 'a.b.example.com', api);
    expect(setup).toEqual({
      source: 'api',
      note: 'SES (eu-west-1) has no identity a.b.example.com nor any of its parent domains (b.example.com, example.com)',
      verified: false,
      dkim: [],
      envelope: { domain: 'amazonses.com' },
      spf: { includes: ['amazonses.com'] },
      steps: ['create the identity a.b.example.com in SES (eu-west-1) and publish its three DKIM CNAMEs'],
    });
  });

  it('falls back to the nearest parent identity, and names it; the exact identity wins when there is one', async () => {
    const parentTokens = ['p'.repeat(32), 'q'.repeat(32), 'r'.repeat(32)];
    ses.setIdentity('example.com', easyDkimIdentity('example.com', { tokens: parentTokens }));
    const viaParent = await sesSetup(sesEntry(), 'a.b.example.com', api);
    expect(viaParent).toMatchObject({ source: 'api', verified: true });
    expect(viaParent.dkim?.map((k) => k.selector)).toEqual(parentTokens);
    expect(viaParent.note).toContain('identity example.com');
    expect(viaParent.note).toContain('signs d=example.com');

    ses.setIdentity('a.b.example.com', easyDkimIdentity('a.b.example.com', { tokens: TOKENS }));
    const exact = await sesSetup(sesEntry(), 'a.b.example.com', api);
    expect(exact.dkim?.map((k) => k.selector)).toEqual(TOKENS);
    expect(exact.note).not.toContain('parent');
  });

  it('a wrong secret or an unknown key: the documented pattern, the refusal named, no secret in the note', async () => {
    ses.setIdentity('example.com', easyDkimIdentity('example.com', { tokens: TOKENS }));
    const wrong = await sesSetup(
      sesEntry({
        credentials: { accessKeyId: { env: 'MR_TEST_DLV_KEY' }, secretAccessKey: { env: 'MR_TEST_DLV_WRONG' } },
      }),
      'example.com',
      api,
    );
    expect(wrong).toEqual({
      source: 'documented',
      note: expect.stringContaining('GetEmailIdentity refused: SignatureDoesNotMatch (HTTP 403)'),
      envelope: { domain: 'amazonses.com' },
      spf: { includes: ['amazonses.com'] },
      steps: ['create the identity example.com in SES (eu-west-1) and publish its three DKIM CNAMEs'],
    });
    expect(wrong.dkim).toBeUndefined();
    expect(wrong.note).not.toContain(WRONG_SECRET);

    const unknown = await sesSetup(
      sesEntry({
        credentials: { accessKeyId: { env: 'MR_TEST_DLV_WRONG' }, secretAccessKey: { env: 'MR_TEST_DLV_SECRET' } },
      }),
      'example.com',
      api,
    );
    expect(unknown.source).toBe('documented');
    expect(unknown.note).toContain('UnrecognizedClientException (HTTP 403)');
    expect(unknown.note).not.toContain(SES_SECRET);
    expect(unknown.note).not.toContain(WRONG_SECRET);
  });

  it('an unreachable endpoint, a silent one and useApi false: the documented pattern, each with its reason', async () => {
    const refused = await sesSetup(sesEntry({ endpoint: closed }), 'example.com', api);
    expect(refused.source).toBe('documented');
    expect(refused.note).toMatch(/^GetEmailIdentity could not reach 127\.0\.0\.1:\d+: ECONNREFUSED/);

    ses.faults.add({ hang: true, pathIncludes: '/v2/email/identities/' });
    const silent = await sesSetup(sesEntry(), 'example.com', { useApi: true, timeoutMs: 300 });
    expect(silent.source).toBe('documented');
    expect(silent.note).toContain('GetEmailIdentity got no answer within 300 ms');

    ses.setIdentity('example.com', easyDkimIdentity('example.com', { tokens: TOKENS }));
    const offline = await sesSetup(sesEntry(), 'example.com', { useApi: false, timeoutMs: 5_000 });
    expect(offline.source).toBe('documented');
    expect(offline.note).toContain('the SES API was not asked');
    expect(offline.dkim).toBeUndefined();
  });

  it('credentials whose variable is not set: documented, the variable named, no value', async () => {
    const setup = await sesSetup(
      sesEntry({
        credentials: { accessKeyId: { env: 'MR_TEST_DLV_UNSET' }, secretAccessKey: { env: 'MR_TEST_DLV_SECRET' } },
      }),
      'example.com',
      api,
    );
    expect(setup.source).toBe('documented');
    expect(setup.note).toContain('MR_TEST_DLV_UNSET');
    expect(setup.note).not.toContain(SES_SECRET);
  });
});

describe('the OCI emulator: the Email Delivery control plane', () => {
  it('lists email domains of a compartment by exact name, signed, to the unmodified EmailClient', async () => {
    const setup = emailDomainWithDkim('example.com', {
      compartmentId: COMPARTMENT,
      selector: 'mailroute-iad-20261207',
    });
    oci.setEmailDomains([setup, emailDomainWithDkim('example.net', { compartmentId: 'ocid1.compartment.oc1..other' })]);
    const client = new EmailClient({
      authenticationDetailsProvider: new SimpleAuthenticationDetailsProvider(
        TENANCY,
        USER,
        FINGERPRINT,
        ociKey.privateKey,
        null,
      ),
    });
    client.endpoint = oci.url;
    try {
      const listed = await client.listEmailDomains({ compartmentId: COMPARTMENT, name: 'example.com' });
      expect(listed.emailDomainCollection.items.map((d) => [d.name, d.lifecycleState, d.activeDkimId])).toEqual([
        ['example.com', 'ACTIVE', setup.dkims[0]!.id],
      ]);
      const none = await client.listEmailDomains({ compartmentId: COMPARTMENT, name: 'example.net' });
      expect(none.emailDomainCollection.items).toEqual([]);
      const summaries = await client.listDkims({ emailDomainId: setup.domain.id });
      // A summary carries no DNS values; getDkim does.
      expect(summaries.dkimCollection.items[0]).not.toHaveProperty('cnameRecordValue');
      const dkim = await client.getDkim({ dkimId: setup.dkims[0]!.id });
      expect(dkim.dkim.cnameRecordValue).toBe('mailroute-iad-20261207.example.com.dkim.iad.oracleemaildelivery.com');
      const missing = await client.listDkims({ emailDomainId: '' }).catch((error: unknown) => error);
      expect(missing).toMatchObject({ statusCode: 400, serviceCode: 'MissingParameter' });
    } finally {
      client.close();
    }
  });
});

describe('OCI: the email domain as the control plane tells it', () => {
  it('an ACTIVE domain with an ACTIVE DKIM key: its selector and CNAME, Oracle bounce domain as envelope', async () => {
    oci.setEmailDomains([
      emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT, selector: 'mailroute-iad-20261207' }),
    ]);
    const setup = await ociSetup(ociEntry(), 'example.com', api);
    expect(setup).toMatchObject({ source: 'api', verified: true, dkimStatus: 'ACTIVE' });
    expect(setup.dkim).toEqual([
      {
        selector: 'mailroute-iad-20261207',
        cname: 'mailroute-iad-20261207.example.com.dkim.iad.oracleemaildelivery.com',
      },
    ]);
    expect(setup.envelope).toEqual({ domain: 'rp.oracleemaildelivery.com' });
    expect(setup.spf).toEqual({ includes: ['rp.oracleemaildelivery.com'] });
    expect(setup.steps).toBeUndefined();
    expect(setup.note).toContain('no custom return path');
  });

  it('an ACTIVE custom return path gives the envelope and its bmta MX; a pending one only a note', async () => {
    oci.setEmailDomains([
      emailDomainWithDkim('example.com', {
        compartmentId: COMPARTMENT,
        returnPath: { dnsSubdomainName: 'iad.rp.example.com', cnameRecordValue: 'rp.iad.oracleemaildelivery.example' },
      }),
    ]);
    const active = await ociSetup(ociEntry(), 'example.com', api);
    expect(active.envelope).toEqual({
      domain: 'iad.rp.example.com',
      mx: ['bmta.email.us-ashburn-1.oci.oraclecloud.com'],
    });
    expect(active.note).toContain('CNAME iad.rp.example.com -> rp.iad.oracleemaildelivery.example');

    oci.setEmailDomains([
      emailDomainWithDkim('example.com', {
        compartmentId: COMPARTMENT,
        returnPath: { lifecycleState: 'NEEDS_ATTENTION' },
      }),
    ]);
    const pending = await ociSetup(ociEntry(), 'example.com', api);
    expect(pending.envelope).toEqual({ domain: 'rp.oracleemaildelivery.com' });
    expect(pending.note).toContain('custom return path iad.rp.example.com is NEEDS_ATTENTION');
  });

  it('a DKIM key waiting for its CNAME is listed with a note; a domain without keys gets the step to create one', async () => {
    oci.setEmailDomains([
      emailDomainWithDkim('example.com', {
        compartmentId: COMPARTMENT,
        selector: 'sel-1',
        dkimState: 'NEEDS_ATTENTION',
      }),
    ]);
    const waiting = await ociSetup(ociEntry(), 'example.com', api);
    expect(waiting.dkim?.map((k) => k.selector)).toEqual(['sel-1']);
    expect(waiting.dkimStatus).toBe('NEEDS_ATTENTION');
    expect(waiting.note).toContain('DKIM sel-1 is NEEDS_ATTENTION');

    oci.setEmailDomains([emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT, dkimState: null })]);
    const keyless = await ociSetup(ociEntry(), 'example.com', api);
    expect(keyless).toMatchObject({ source: 'api', verified: true, dkim: [] });
    expect(keyless.dkimStatus).toBeUndefined();
    expect(keyless.steps).toEqual([
      'create a DKIM key for the email domain example.com in OCI Email Delivery (us-ashburn-1), then publish its CNAME',
    ]);
  });

  it('follows opc-next-page: a key on the second page of DKIMs is found', async () => {
    const setup = emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT, selector: 'last' });
    const template = setup.dkims[0]!;
    const inactive = Array.from({ length: 100 }, (_, i) => ({
      ...template,
      id: `${template.id}-old${i}`,
      name: `old-${i}`,
      lifecycleState: 'INACTIVE' as const,
    }));
    setup.dkims = [...inactive, template];
    oci.setEmailDomains([setup]);
    const found = await ociSetup(ociEntry(), 'example.com', api);
    expect(found.dkim?.map((k) => k.selector)).toEqual(['last']);
  });

  it('no email domain (or one in another compartment): not verified, no keys, the step to create it', async () => {
    oci.setEmailDomains([emailDomainWithDkim('example.com', { compartmentId: 'ocid1.compartment.oc1..other' })]);
    const setup = await ociSetup(ociEntry({ region: 'eu-frankfurt-1' }), 'example.com', api);
    expect(setup).toEqual({
      source: 'api',
      note: `OCI Email Delivery (eu-frankfurt-1) has no email domain example.com in compartment ${COMPARTMENT}`,
      verified: false,
      dkim: [],
      envelope: { domain: 'eu.rp.oracleemaildelivery.com' },
      spf: { includes: ['eu.rp.oracleemaildelivery.com'] },
      steps: [
        'create the email domain example.com in OCI Email Delivery (eu-frankfurt-1) and a DKIM key for it, then publish its CNAME',
      ],
    });
  });

  it('without compartmentId: the documented pattern, saying compartmentId is needed', async () => {
    oci.setEmailDomains([emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT })]);
    const setup = await ociSetup(ociEntry({ compartmentId: undefined, region: 'ap-tokyo-1' }), 'example.com', api);
    expect(setup).toMatchObject({
      source: 'documented',
      envelope: { domain: 'ap.rp.oracleemaildelivery.com' },
      spf: { includes: ['ap.rp.oracleemaildelivery.com'] },
      steps: [
        'create the email domain example.com in OCI Email Delivery (ap-tokyo-1) and a DKIM key for it, then publish its CNAME',
      ],
    });
    expect(setup.note).toMatch(/^compartmentId is needed/);
    expect(setup.dkim).toBeUndefined();
  });

  it('a signature the emulator refuses: documented, the 401 named, no key material in the note', async () => {
    oci.setEmailDomains([emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT })]);
    const entry = ociEntry({
      apiKey: { tenancy: TENANCY, user: USER, fingerprint: FINGERPRINT, privateKey: { env: 'MR_TEST_DLV_OCI_OTHER' } },
    });
    const setup = await ociSetup(entry, 'example.com', api);
    expect(setup.source).toBe('documented');
    expect(setup.note).toContain('listEmailDomains refused: NotAuthenticated (HTTP 401)');
    expect(setup.note).not.toContain(pemBody(otherKey.privateKey));
    expect(setup.dkim).toBeUndefined();
  });

  it('unreachable, silent, or not asked: documented with the reason; a region of unknown continent takes all three includes', async () => {
    const refused = await ociSetup(ociEntry({ endpoint: closed }), 'example.com', api);
    expect(refused.source).toBe('documented');
    expect(refused.note).toMatch(/^listEmailDomains could not reach OCI Email Delivery: fetch failed/);

    oci.faults.add({ hang: true, pathIncludes: '/20170907/emailDomains' });
    const silent = await ociSetup(ociEntry(), 'example.com', { useApi: true, timeoutMs: 300 });
    expect(silent.note).toContain('listEmailDomains got no answer within 300 ms');

    const offline = await ociSetup(ociEntry({ region: 'xx-nowhere-1' }), 'example.com', {
      useApi: false,
      timeoutMs: 5_000,
    });
    expect(offline.source).toBe('documented');
    expect(offline.note).toContain('the OCI API was not asked');
    expect(offline.spf.includes).toEqual([
      'rp.oracleemaildelivery.com',
      'ap.rp.oracleemaildelivery.com',
      'eu.rp.oracleemaildelivery.com',
    ]);
  });
});
