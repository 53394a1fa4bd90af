import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coldStartDnsCheck, resetColdStartDnsCheck } from '../../core/deliverability/cold-start.ts';
import { easyDkimIdentity } from '../../emulators/ses/identities.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { builtInProviders, validateConfig } from '../../index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { DomainZone, providerKeys, world } from './zones.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/mailroute.js', import.meta.url).pathname;
const TOKENS = ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)];
const env = { MR_DOCTOR_SES_KEY: 'AKIADOCTORTEST', MR_DOCTOR_SES_SECRET: 'doctor-secret-value', MR_DOCTOR_ACS: 'x' };

let dns: TestDnsServer;
let ses: SesEmulator;
let configFile: string;

function configFor(sesUrl: string) {
  return {
    providers: [
      {
        name: 'ses-api',
        provider: 'ses',
        mode: 'api',
        region: 'eu-west-1',
        endpoint: sesUrl,
        credentials: { accessKeyId: { env: 'MR_DOCTOR_SES_KEY' }, secretAccessKey: { env: 'MR_DOCTOR_SES_SECRET' } },
      },
      { name: 'acs-api', provider: 'azure', mode: 'api', connectionString: { env: 'MR_DOCTOR_ACS' } },
    ],
    routes: [{ name: 'main', providers: ['ses-api', 'acs-api'], senderDomains: ['example.com'] }],
  };
}

/** SES set up for example.com (its three Easy DKIM CNAMEs and its SPF include), DMARC p=reject. */
const sesOnly = () =>
  new DomainZone('example.com')
    .spf('amazonses.com')
    .dmarc('reject')
    .dkimCname(TOKENS[0] as string, `${TOKENS[0]}.dkim.amazonses.com`)
    .dkimCname(TOKENS[1] as string, `${TOKENS[1]}.dkim.amazonses.com`)
    .dkimCname(TOKENS[2] as string, `${TOKENS[2]}.dkim.amazonses.com`);
const sesKeys = () => providerKeys(TOKENS.map((t) => `${t}.dkim.amazonses.com`));

async function mailroute(args: string[], extra: Record<string, string> = {}) {
  try {
    const { stdout } = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env, ...extra } });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dns = await startDnsServer();
  ses = await startSesEmulator({ identities: { 'example.com': easyDkimIdentity('example.com', { tokens: TOKENS }) } });
  configFile = join(mkdtempSync(join(tmpdir(), 'mr-doctor-')), 'mailroute.config.json');
  writeFileSync(configFile, JSON.stringify(configFor(ses.url)));
});
afterAll(async () => {
  await dns.close();
  await ses.close();
});

describe('mailroute doctor (the CLI, SES then ACS for example.com)', () => {
  it('only SES set up: failing over to ACS would fail DMARC; names the records to add and exits 1', async () => {
    dns.setZone({ ...world(sesOnly()), ...sesKeys() });
    const { code, stdout } = await mailroute(['doctor', '--config', configFile, '--resolver', dns.address]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/example\.com through route "main": DMARC policy reject/);
    expect(stdout).toMatch(/ses-api\s+ses\s+primary\s+pass\s+dkim/);
    expect(stdout).toMatch(/acs-api\s+azure\s+failover #1\s+FAIL/);
    expect(stdout).toContain(
      'Failing over to acs-api would fail DMARC for example.com: rejected by receivers (p=reject)',
    );
    expect(stdout).toMatch(
      /selector1-azurecomm-prod-net\._domainkey\.example\.com\s+CNAME\s+selector1-azurecomm-prod-net\._domainkey\.azurecomm\.net/,
    );
    expect(stdout).toMatch(/selector2-azurecomm-prod-net\._domainkey\.example\.com\s+CNAME/);
    // SES's include is kept and ACS's added, in the one SPF record the name may have.
    expect(stdout).toContain('"v=spf1 include:amazonses.com include:spf.protection.outlook.com ~all"');
    expect(stdout).not.toContain(env.MR_DOCTOR_SES_SECRET);
  });

  it('both set up: exits 0; --json and MAILROUTE_DNS_SERVERS give the same verdict', async () => {
    dns.setZone({ ...world(sesOnly().acsDkim().spf('spf.protection.outlook.com')), ...sesKeys() });
    // Two SPF records would be a permerror: one record with both includes.
    const zone = { ...world(sesOnly().acsDkim()), ...sesKeys() };
    zone['example.com'] = [
      { type: 'TXT', value: 'v=spf1 include:amazonses.com include:spf.protection.outlook.com ~all' },
    ];
    dns.setZone(zone);
    const text = await mailroute(['doctor', '--config', configFile, '--resolver', dns.address]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/acs-api\s+azure\s+failover #1\s+pass\s+dkim\+spf/);
    const json = await mailroute(['doctor', '--config', configFile, '--json'], { MAILROUTE_DNS_SERVERS: dns.address });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(true);
    const ses = report.domains[0].providers[0];
    expect(ses).toMatchObject({ entry: 'ses-api', source: 'api', dmarcPass: true });
  });

  it('SES read from its API: a token CNAME pointing elsewhere fails its key', async () => {
    const zone = { ...world(sesOnly()), ...sesKeys() };
    zone[`${TOKENS[2]}._domainkey.example.com`] = [{ type: 'CNAME', value: 'other.dkim.amazonses.com' }];
    dns.setZone(zone);
    const { code, stdout } = await mailroute([
      'doctor',
      '--config',
      configFile,
      '--resolver',
      dns.address,
      '--route',
      'main',
      '--json',
    ]);
    expect(code).toBe(1);
    const ses = JSON.parse(stdout).domains[0].providers[0];
    expect(ses.dmarcPass).toBe(false);
    expect(ses.checks.find((c: { name: string }) => c.name === `${TOKENS[2]}._domainkey.example.com`).says).toMatch(
      /points at other/,
    );
  });

  it('config check --dns fails the check the same way', async () => {
    dns.setZone({ ...world(sesOnly()), ...sesKeys() });
    const bad = await mailroute(['config', 'check', '--config', configFile, '--dns', '--resolver', dns.address]);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.ok).toBe(false);
    expect(report.dns.ok).toBe(false);
    const wrong = await mailroute(['config', 'check', '--config', configFile, '--resolver', dns.address]);
    expect(wrong.code).toBe(2);
    const badServer = await mailroute(['doctor', '--config', configFile, '--resolver', 'not-a-server']);
    expect(badServer.code).toBe(1);
    expect(JSON.parse(badServer.stdout).error.message).toMatch(
      /--resolver: "not-a-server" is not a DNS server address/,
    );
  });

  it("a function's cold start logs one warning line, once per instance, and MAILROUTE_DNS_CHECK=off skips it", async () => {
    dns.setZone({ ...world(sesOnly()), ...sesKeys() });
    const config = validateConfig(configFor(ses.url));
    const lines: string[] = [];
    const logger = { info: () => {}, warn: (m: string) => lines.push(m), error: () => {} };
    const procEnv = { ...process.env, ...env, MAILROUTE_DNS_SERVERS: dns.address, MAILROUTE_DNS_CHECK: 'on' };
    resetColdStartDnsCheck();
    const first = coldStartDnsCheck(config, builtInProviders, logger, procEnv);
    expect(coldStartDnsCheck(config, builtInProviders, logger, procEnv)).toBe(first);
    const line = await first;
    expect(lines).toEqual([line]);
    expect(line).toMatch(/acs-api \(failover #1 of route main\) would fail DMARC for example\.com \(p=reject\)/);
    resetColdStartDnsCheck();
    expect(
      await coldStartDnsCheck(config, builtInProviders, logger, { ...procEnv, MAILROUTE_DNS_CHECK: 'off' }),
    ).toBeUndefined();
    expect(lines).toHaveLength(1);
  });
});

describe('the functions’ mailer', () => {
  it('starts the deliverability check once, after the mailer is built, and never waits for it', async () => {
    const { mailerOnce } = await import('../../core/runtime/mailer-once.ts');
    const { createMailer } = await import('../../index.ts');
    let calls = 0;
    const logger = { info: () => {}, warn: () => {}, error: () => {} };
    const mailer = mailerOnce({
      config: () => validateConfig({ providers: [{ name: 'local', provider: 'local', mode: 'smtp' }] }),
      create: createMailer,
      logger,
      dnsCheck: () => {
        calls += 1;
        return new Promise(() => {}); // a check that never ends must not hold the mailer back
      },
    });
    const built = await mailer();
    expect(calls).toBe(1);
    expect(await mailer()).toBe(built);
    expect(calls).toBe(1);
    await built.close();
  });
});
