import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DoctorReport, type ProviderReport, runDoctor } from '../../core/deliverability/doctor.ts';
import { createResolver } from '../../core/deliverability/resolver.ts';
import { emailDomainWithDkim, type OciEmulator, startOciEmulator } from '../../emulators/oci/index.ts';
import { easyDkimIdentity, type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { builtInProviders, validateConfig } from '../../index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { DomainZone, providerKeys, world } from './zones.ts';

// The doctor with the providers' own APIs (the SES and OCI emulators) and a loopback DNS server: what the API says
// the domain needs, checked against what the zone publishes.
const TENANCY = 'ocid1.tenancy.oc1..aaaadoctor';
const USER = 'ocid1.user.oc1..aaaadoctor';
const FINGERPRINT = '11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaadoctor';
const TOKENS = ['d'.repeat(32), 'e'.repeat(32), 'f'.repeat(32)];
const ociKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const env = { MR_DOC_SES_KEY: 'AKIADOCTOR', MR_DOC_SES_SECRET: 'doctor-ses-secret', MR_DOC_OCI_KEY: ociKey.privateKey };

let dns: TestDnsServer;
let ses: SesEmulator;
let oci: OciEmulator;

beforeAll(async () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {}); // oci-common warns on failed calls
  Object.assign(process.env, env); // the providers' clients read their secret references from the environment
  dns = await startDnsServer();
  ses = await startSesEmulator({ port: 0 });
  oci = await startOciEmulator({
    port: 0,
    keys: [{ keyId: `${TENANCY}/${USER}/${FINGERPRINT}`, publicKeyPem: ociKey.publicKey }],
  });
});
afterAll(async () => {
  await Promise.all([dns.close(), ses.close(), oci.close()]);
  for (const name of Object.keys(env)) delete process.env[name];
});

const sesEntry = () => ({
  name: 'ses-api',
  provider: 'ses',
  mode: 'api',
  region: 'eu-west-1',
  endpoint: ses.url,
  credentials: { accessKeyId: { env: 'MR_DOC_SES_KEY' }, secretAccessKey: { env: 'MR_DOC_SES_SECRET' } },
});
const ociEntry = () => ({
  name: 'oci-api',
  provider: 'oci',
  mode: 'api',
  region: 'us-ashburn-1',
  endpoint: oci.url,
  compartmentId: COMPARTMENT,
  apiKey: { tenancy: TENANCY, user: USER, fingerprint: FINGERPRINT, privateKey: { env: 'MR_DOC_OCI_KEY' } },
});

async function doctor(providers: unknown[], useApi = true): Promise<DoctorReport> {
  return runDoctor(validateConfig({ providers, allowedSenders: ['example.com'] }), {
    registry: builtInProviders,
    resolve: createResolver([dns.address]),
    useApi,
  });
}
const only = (report: DoctorReport): ProviderReport => {
  const p = report.domains[0]?.providers[0];
  if (!p) throw new Error(JSON.stringify(report));
  return p;
};
const sesDkim = (zone: DomainZone) => {
  for (const t of TOKENS) zone.dkimCname(t, `${t}.dkim.amazonses.com`);
  return zone;
};

describe('doctor with the providers’ APIs', () => {
  it('SES custom MAIL FROM: SPF aligns once its MX and SPF records are published; without the MX it is reported', async () => {
    ses.setIdentity(
      'example.com',
      easyDkimIdentity('example.com', { tokens: TOKENS, mailFromDomain: 'bounce.example.com' }),
    );
    const keys = providerKeys(TOKENS.map((t) => `${t}.dkim.amazonses.com`));
    const zone = sesDkim(new DomainZone('example.com').dmarc('reject'))
      .add('bounce', { type: 'MX', value: 'feedback-smtp.eu-west-1.amazonses.com', priority: 10 })
      .add('bounce', { type: 'TXT', value: 'v=spf1 include:amazonses.com ~all' });
    dns.setZone({ ...world(zone), ...keys });
    const good = only(await doctor([sesEntry()]));
    expect(good).toMatchObject({ dmarcPass: true, source: 'api', envelope: 'bounce.example.com' });
    expect(good.aligned).toEqual(['dkim', 'spf']);
    expect(good.checks.find((c) => c.check === 'mx')?.verdict).toBe('ok');

    const noMx = sesDkim(new DomainZone('example.com').dmarc('reject'));
    dns.setZone({ ...world(noMx), ...keys });
    const report = await doctor([sesEntry()]);
    const p = only(report);
    expect(p.aligned).toEqual(['dkim']); // DKIM still carries DMARC
    expect(p.checks.find((c) => c.check === 'mx')).toMatchObject({ verdict: 'fail', name: 'bounce.example.com' });
    expect(report.domains[0]?.records).toContainEqual({
      name: 'bounce.example.com',
      type: 'MX',
      value: '10 feedback-smtp.eu-west-1.amazonses.com',
      action: 'add',
    });
    expect(report.domains[0]?.records).toContainEqual({
      name: 'bounce.example.com',
      type: 'TXT',
      value: 'v=spf1 include:amazonses.com ~all',
      action: 'add',
    });
  });

  it('SES without the identity: DKIM cannot sign, so the mail fails DMARC, with the step to create it', async () => {
    ses.setIdentity('example.com', undefined);
    dns.setZone(world(new DomainZone('example.com').spf('amazonses.com').dmarc('reject')));
    const p = only(await doctor([sesEntry()]));
    expect(p.dmarcPass).toBe(false);
    expect(p.steps.join(' ')).toMatch(/create the identity/i);
  });

  it('SES documented pattern (no API): its tokens are unknown, so the verdict is unknown rather than a guess', async () => {
    dns.setZone(world(new DomainZone('example.com').spf('amazonses.com').dmarc('reject')));
    const report = await doctor([sesEntry()], false);
    expect(only(report).dmarcPass).toBeUndefined();
    expect(report.verdict).toBe('unknown');
    expect(report.ok).toBe(true);
  });

  it('OCI: the DKIM CNAME from its email domain aligns; a missing one fails and is named', async () => {
    const setup = emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT, selector: 'mr-iad-20261207' });
    oci.setEmailDomains([setup]);
    const target = 'mr-iad-20261207.example.com.dkim.iad1.oracleemaildelivery.com';
    const zone = new DomainZone('example.com').dmarc('quarantine').spf('rp.oracleemaildelivery.com');
    const cname = setup.dkims[0]?.cnameRecordValue ?? target;
    zone.dkimCname('mr-iad-20261207', cname);
    dns.setZone({ ...world(zone), ...providerKeys([cname]) });
    const good = only(await doctor([ociEntry()]));
    expect(good).toMatchObject({ dmarcPass: true, source: 'api' });
    expect(good.aligned).toEqual(['dkim']); // the envelope is Oracle's own without a custom return path

    dns.setZone(world(new DomainZone('example.com').dmarc('quarantine')));
    const report = await doctor([ociEntry()]);
    expect(only(report).dmarcPass).toBe(false);
    expect(report.domains[0]?.records).toContainEqual({
      name: 'mr-iad-20261207._domainkey.example.com',
      type: 'CNAME',
      value: cname,
      action: 'add',
    });
  });

  it('OCI custom return path: SPF aligns on it once its MX and SPF include are published; a wrong MX is named', async () => {
    const setup = emailDomainWithDkim('example.com', { compartmentId: COMPARTMENT, dkimState: null, returnPath: true });
    oci.setEmailDomains([setup]);
    const mx = 'bmta.email.us-ashburn-1.oci.oraclecloud.com';
    const zone = new DomainZone('example.com')
      .dmarc('reject')
      .add('iad.rp', { type: 'MX', value: mx, priority: 10 })
      .add('iad.rp', { type: 'TXT', value: 'v=spf1 include:rp.oracleemaildelivery.com ~all' });
    dns.setZone(world(zone));
    const good = only(await doctor([ociEntry()]));
    expect(good).toMatchObject({ envelope: 'iad.rp.example.com', dmarcPass: true, aligned: ['spf'] });

    const wrong = new DomainZone('example.com')
      .dmarc('reject')
      .add('iad.rp', { type: 'MX', value: 'mx.elsewhere.example', priority: 10 })
      .add('iad.rp', { type: 'TXT', value: 'v=spf1 include:eu.rp.oracleemaildelivery.com ~all' });
    dns.setZone(world(wrong));
    const report = await doctor([ociEntry()]);
    const p = only(report);
    expect(p.dmarcPass).toBe(false); // no DKIM key, and SPF does not authorize the Ashburn senders
    expect(p.checks.find((c) => c.check === 'mx')?.says).toMatch(/mx\.elsewhere\.example, not bmta\.email/);
    expect(report.domains[0]?.records).toContainEqual({
      name: 'iad.rp.example.com',
      type: 'TXT',
      value: 'v=spf1 include:eu.rp.oracleemaildelivery.com include:rp.oracleemaildelivery.com ~all',
      action: 'replace',
    });
  });

  it('OCI: no email domain for the sender domain fails, with the step to create one', async () => {
    oci.setEmailDomains([]);
    dns.setZone(world(new DomainZone('example.com').dmarc('reject')));
    const p = only(await doctor([ociEntry()]));
    expect(p.dmarcPass).toBe(false);
    expect(p.checks.find((c) => c.check === 'setup')?.says).toMatch(/not set up/);
  });
});
