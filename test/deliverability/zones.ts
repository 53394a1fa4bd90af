import { generateKeyPairSync } from 'node:crypto';
import type { Zone, ZoneRecord } from '../helpers/dns-server.ts';

/** An RSA key pair: the private key as PEM, the public key as the base64 SPKI a DKIM record's `p=` holds. */
export function dkimKeyPair(bits = 1024): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** The key the providers' DKIM CNAMEs point at, in this test world. */
export const providerKey = dkimKeyPair();

export const dkimTxt = (publicKey: string): ZoneRecord => ({ type: 'TXT', value: `v=DKIM1; k=rsa; p=${publicKey}` });
const txt = (value: string): ZoneRecord => ({ type: 'TXT', value });
const cname = (value: string): ZoneRecord => ({ type: 'CNAME', value });

/** The SPF includes of each provider, with documentation addresses (what their real records would authorize). */
export const PROVIDER_SPF: Zone = {
  'amazonses.com': [txt('v=spf1 ip4:198.51.100.0/26 -all')],
  'spf.protection.outlook.com': [txt('v=spf1 ip4:198.51.100.64/26 -all')],
  '_spf.google.com': [txt('v=spf1 include:_netblocks.google.com -all')],
  '_netblocks.google.com': [txt('v=spf1 ip4:198.51.100.128/26 -all')],
  'rp.oracleemaildelivery.com': [txt('v=spf1 ip4:198.51.100.192/27 -all')],
  'eu.rp.oracleemaildelivery.com': [txt('v=spf1 ip4:198.51.100.224/28 -all')],
  'ap.rp.oracleemaildelivery.com': [txt('v=spf1 ip4:198.51.100.240/28 -all')],
};

/** The provider's side of a DKIM CNAME: the name it points at, holding the provider's key. */
export function providerKeys(targets: string[]): Zone {
  return Object.fromEntries(targets.map((t) => [t, [dkimTxt(providerKey.publicKey)]]));
}

export const ACS_SELECTORS = ['selector1-azurecomm-prod-net', 'selector2-azurecomm-prod-net'];
export const acsTarget = (selector: string) => `${selector}._domainkey.azurecomm.net`;

/** A sender domain's records, built up by the tests. */
export class DomainZone {
  readonly records: Zone = {};
  readonly domain: string;
  constructor(domain: string) {
    this.domain = domain;
  }
  add(name: string, record: ZoneRecord): this {
    const key = name === '@' ? this.domain : `${name}.${this.domain}`;
    this.records[key] = [...(this.records[key] ?? []), record];
    return this;
  }
  spf(...includes: string[]): this {
    return this.add('@', txt(`v=spf1 ${includes.map((i) => `include:${i}`).join(' ')} ~all`));
  }
  dmarc(policy: 'none' | 'quarantine' | 'reject'): this {
    return this.add('_dmarc', txt(`v=DMARC1; p=${policy}; rua=mailto:dmarc@${this.domain}`));
  }
  acsDkim(): this {
    for (const s of ACS_SELECTORS) this.add(`${s}._domainkey`, cname(acsTarget(s)));
    return this;
  }
  dkimCname(selector: string, target: string): this {
    return this.add(`${selector}._domainkey`, cname(target));
  }
  dkimKey(selector: string, publicKey: string): this {
    return this.add(`${selector}._domainkey`, dkimTxt(publicKey));
  }
}

/** The whole DNS the doctor sees: the providers' records and the sender domains'. */
export function world(...domains: DomainZone[]): Zone {
  const acs = providerKeys(ACS_SELECTORS.map(acsTarget));
  return Object.assign({}, PROVIDER_SPF, acs, ...domains.map((d) => d.records));
}
