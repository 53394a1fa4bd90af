import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DoctorReport, type ProviderReport, runDoctor } from '../../core/deliverability/doctor.ts';
import { createResolver } from '../../core/deliverability/resolver.ts';
import { builtInProviders, validateConfig } from '../../index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { ACS_SELECTORS, acsTarget, DomainZone, dkimKeyPair, world } from './zones.ts';

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
});

const acs = { name: 'acs-api', provider: 'azure', mode: 'api', connectionString: { env: 'MR_DOCTOR_ACS' } };
const gmail = { name: 'gmail-relay', provider: 'gmail', mode: 'smtp', domain: 'example.com' };

async function doctor(config: unknown, options: { domain?: string; route?: string; env?: NodeJS.ProcessEnv } = {}) {
  return runDoctor(validateConfig(config), {
    registry: builtInProviders,
    resolve: createResolver([dns.address]),
    useApi: false,
    ...options,
  });
}

function provider(report: DoctorReport, entry: string, domain = 'example.com'): ProviderReport {
  const found = report.domains.find((d) => d.domain === domain)?.providers.find((p) => p.entry === entry);
  if (!found) throw new Error(`no ${entry} for ${domain} in ${JSON.stringify(report, null, 1)}`);
  return found;
}

describe('mailroute doctor against a loopback DNS server', () => {
  it('ACS: both DKIM CNAMEs and the SPF include give an aligned pass; without the CNAMEs it fails, naming them', async () => {
    const config = { providers: [acs], allowedSenders: ['example.com'] };
    dns.setZone(world(new DomainZone('example.com').spf('spf.protection.outlook.com').acsDkim().dmarc('reject')));
    const good = provider(await doctor(config), 'acs-api');
    expect(good.dmarcPass).toBe(true);
    expect(good.aligned).toEqual(['dkim', 'spf']);
    expect(good.source).toBe('documented');

    dns.setZone(world(new DomainZone('example.com').dmarc('reject')));
    const report = await doctor(config);
    const bad = provider(report, 'acs-api');
    expect(bad.dmarcPass).toBe(false);
    expect(report.ok).toBe(false);
    const records = report.domains[0]?.records ?? [];
    for (const selector of ACS_SELECTORS) {
      expect(records).toContainEqual({
        name: `${selector}._domainkey.example.com`,
        type: 'CNAME',
        value: acsTarget(selector),
        action: 'add',
      });
    }
    expect(records).toContainEqual({
      name: 'example.com',
      type: 'TXT',
      value: 'v=spf1 include:spf.protection.outlook.com ~all',
      action: 'add',
    });
  });

  it('ACS: one selector of the two missing is still a failure (ACS rotates between them)', async () => {
    const zone = new DomainZone('example.com').dmarc('reject');
    zone.dkimCname(ACS_SELECTORS[0] as string, acsTarget(ACS_SELECTORS[0] as string));
    dns.setZone(world(zone));
    const report = await doctor({ providers: [acs], allowedSenders: ['example.com'] });
    const p = provider(report, 'acs-api');
    expect(p.dmarcPass).toBe(false);
    expect(p.checks.filter((c) => c.check === 'dkim').map((c) => c.verdict)).toEqual(['ok', 'fail']);
  });

  it('Gmail: SPF alone aligns (the envelope is the sender domain); DKIM needs the Admin console key at google._domainkey', async () => {
    const config = { providers: [gmail], allowedSenders: ['example.com'] };
    const key = dkimKeyPair();
    dns.setZone(
      world(new DomainZone('example.com').spf('_spf.google.com').dkimKey('google', key.publicKey).dmarc('quarantine')),
    );
    const both = provider(await doctor(config), 'gmail-relay');
    expect(both.aligned).toEqual(['dkim', 'spf']);

    dns.setZone(world(new DomainZone('example.com').spf('_spf.google.com').dmarc('quarantine')));
    const spfOnly = provider(await doctor(config), 'gmail-relay');
    expect(spfOnly.dmarcPass).toBe(true);
    expect(spfOnly.aligned).toEqual(['spf']);
    expect(spfOnly.checks.find((c) => c.check === 'dkim')?.verdict).toBe('fail');

    dns.setZone(world(new DomainZone('example.com').spf('amazonses.com').dmarc('quarantine')));
    const report = await doctor(config);
    expect(provider(report, 'gmail-relay').dmarcPass).toBe(false);
    // The include goes into the record already there, not into a second SPF record.
    expect(report.domains[0]?.records).toContainEqual({
      name: 'example.com',
      type: 'TXT',
      value: 'v=spf1 include:amazonses.com include:_spf.google.com ~all',
      action: 'replace',
    });
  });

  it("an SMTP entry's own DKIM key: the published key must be the one it signs with", async () => {
    const key = dkimKeyPair();
    const env = { MR_DOCTOR_DKIM: key.privateKey };
    const config = {
      providers: [
        {
          ...gmail,
          smtp: { dkim: { domainName: 'example.com', keySelector: 'mr2026', privateKey: { env: 'MR_DOCTOR_DKIM' } } },
        },
      ],
      allowedSenders: ['example.com'],
    };
    dns.setZone(world(new DomainZone('example.com').dkimKey('mr2026', key.publicKey).dmarc('reject')));
    const signed = provider(await doctor(config, { env }), 'gmail-relay');
    expect(signed.dmarcPass).toBe(true);
    expect(signed.aligned).toEqual(['dkim']);

    dns.setZone(world(new DomainZone('example.com').dkimKey('mr2026', dkimKeyPair().publicKey).dmarc('reject')));
    const other = provider(await doctor(config, { env }), 'gmail-relay');
    expect(other.dmarcPass).toBe(false);
    expect(other.checks.find((c) => c.name === 'mr2026._domainkey.example.com')?.says).toMatch(/different key/);
  });

  it('an SPF record over the ten-lookup limit is reported as invalid', async () => {
    const zone = new DomainZone('example.com').dmarc('reject');
    const includes = Array.from({ length: 11 }, (_, i) => `spf${i}.example.net`);
    zone.add('@', {
      type: 'TXT',
      value: `v=spf1 ${includes.map((i) => `include:${i}`).join(' ')} include:_spf.google.com ~all`,
    });
    const filler = Object.fromEntries(includes.map((i) => [i, [{ type: 'TXT' as const, value: 'v=spf1 -all' }]]));
    dns.setZone({ ...world(zone), ...filler });
    const p = provider(await doctor({ providers: [gmail], allowedSenders: ['example.com'] }), 'gmail-relay');
    const spf = p.checks.find((c) => c.check === 'spf');
    expect(spf?.verdict).toBe('fail');
    expect(spf?.says).toMatch(/over the 10-lookup limit|too many/i);
    expect(p.dmarcPass).toBe(false); // no DKIM key either: nothing aligns
  });

  it('a missing DMARC record is a warning with the record to add; providers are judged as if one existed', async () => {
    dns.setZone(world(new DomainZone('example.com').spf('spf.protection.outlook.com').acsDkim()));
    const report = await doctor({ providers: [acs], allowedSenders: ['example.com'] });
    const domain = report.domains[0];
    expect(domain?.policy).toBe('none');
    expect(domain?.dmarc.verdict).toBe('warn');
    expect(domain?.records).toContainEqual(expect.objectContaining({ name: '_dmarc.example.com', type: 'TXT' }));
    expect(provider(report, 'acs-api').dmarcPass).toBe(true);
    expect(report.ok).toBe(true);
  });

  it('a subdomain inherits the policy of its organizational domain', async () => {
    dns.setZone(world(new DomainZone('example.com').dmarc('reject'), new DomainZone('mail.example.com')));
    const report = await doctor({ providers: [acs] }, { domain: 'mail.example.com' });
    expect(report.domains[0]?.policy).toBe('reject');
    expect(provider(report, 'acs-api', 'mail.example.com').dmarcPass).toBe(false);
  });

  it('only the providers a route can reach for the domain are checked, in failover order', async () => {
    dns.setZone(world(new DomainZone('example.com').dmarc('reject'), new DomainZone('other.example').dmarc('reject')));
    const config = {
      providers: [
        { ...acs, domains: ['other.example'] },
        { ...gmail, name: 'gmail-a' },
        { ...gmail, name: 'gmail-b' },
      ],
      routes: [
        { name: 'main', providers: ['acs-api', 'gmail-a', 'gmail-b'], senderDomains: ['example.com', 'other.example'] },
      ],
    };
    const report = await doctor(config);
    const example = report.domains.find((d) => d.domain === 'example.com');
    expect(example?.route).toBe('main');
    expect(example?.providers.map((p) => [p.entry, p.role])).toEqual([
      ['gmail-a', 'primary'],
      ['gmail-b', 'failover #1'],
    ]);
    const other = report.domains.find((d) => d.domain === 'other.example');
    expect(other?.providers.map((p) => p.entry)).toEqual(['acs-api', 'gmail-a', 'gmail-b']);
  });

  it('the local capture inbox needs no DNS; a configuration naming no domain says to pass one', async () => {
    const none = await doctor({ providers: [{ name: 'local', provider: 'local', mode: 'smtp' }] });
    expect(none.domains).toEqual([]);
    expect(none.notes.join(' ')).toMatch(/--domain/);
    dns.setZone(world(new DomainZone('example.com')));
    const local = await doctor(
      { providers: [{ name: 'local', provider: 'local', mode: 'smtp' }] },
      { domain: 'example.com' },
    );
    expect(provider(local, 'local').dmarcPass).toBe(true);
    expect(provider(local, 'local').note).toMatch(/sends nowhere/);
  });
});
