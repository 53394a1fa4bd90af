import { createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { dmarc } from 'mailauth/lib/dmarc/index.js';
import { spf } from 'mailauth/lib/spf/index.js';
import type { ExpectedDkimKey } from '../contract/deliverability.ts';
import { type DnsResolve, isNoRecord, normalizeName, txtRecords } from './resolver.ts';

// mailauth's DKIM key parser (version, service, key type, key size checks) has no type declarations of its own.
const { getPublicKey } = createRequire(import.meta.url)('mailauth/lib/tools.js') as {
  getPublicKey(
    type: 'DKIM',
    name: string,
    minBitLength: number,
    resolver: DnsResolve,
  ): Promise<{ publicKey: string | Buffer; rr: string; modulusLength?: number; keyType: string }>;
};

/** `ok`: as it should be; `fail`: mail would not authenticate; `warn`: works, but should be fixed; `unknown`: not checkable. */
export type Verdict = 'ok' | 'warn' | 'fail' | 'unknown';

/** A DNS record to add or replace. */
export interface DnsRecord {
  name: string;
  type: 'TXT' | 'CNAME' | 'MX';
  value: string;
  /** `add`: a new record; `replace`: instead of the record there now (one SPF record per name). */
  action: 'add' | 'replace';
}

/** One check's outcome, with the record that fixes it. */
export interface Check {
  check: 'spf' | 'dkim' | 'dmarc' | 'mx' | 'setup';
  verdict: Verdict;
  /** The DNS name looked at. */
  name: string;
  says: string;
  fix?: DnsRecord;
}

const SPF_RECORD = /^v=spf1(\s|$)/i;
const DOC_ADDRESS = '192.0.2.1'; // TEST-NET-1: authorized by nobody's record

/** An address one of the includes authorizes (its first ip4/ip6, following includes three deep), to evaluate with. */
async function sampleAddress(resolve: DnsResolve, includes: string[], depth = 0): Promise<string | undefined> {
  if (depth > 3) return undefined;
  for (const include of includes) {
    let records: string[];
    try {
      records = (await txtRecords(resolve, include)).filter((r) => SPF_RECORD.test(r));
    } catch {
      continue;
    }
    for (const record of records) {
      const terms = record.split(/\s+/);
      for (const term of terms) {
        const ip = /^\+?ip[46]:([^/]+)/i.exec(term);
        if (ip) return ip[1];
      }
      const nested = terms.map((t) => /^\+?include:(.+)$/i.exec(t)?.[1]).filter((d): d is string => !!d);
      const found = await sampleAddress(resolve, nested, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** The SPF record with `include:<include>` added before its `all` (or redirect), or a new one. */
export function spfWith(record: string | undefined, includes: string[]): string {
  if (!record) return `v=spf1 ${includes.map((i) => `include:${i}`).join(' ')} ~all`;
  const terms = record.trim().split(/\s+/);
  const have = new Set(terms.map((t) => t.toLowerCase()));
  const add = includes.map((i) => `include:${i}`).filter((t) => !have.has(t.toLowerCase()));
  const at = terms.findIndex((t) => /^[-~?+]?all$/i.test(t) || /^redirect=/i.test(t));
  if (at < 0) return [...terms, ...add].join(' ');
  return [...terms.slice(0, at), ...add, ...terms.slice(at)].join(' ');
}

export interface SpfOutcome {
  /** Whether mail from the provider passes SPF for the envelope domain. */
  pass: boolean;
  check: Check;
  /** The domain's SPF record now (the one, when exactly one). */
  record?: string;
}

/**
 * Whether the provider's mail passes SPF for its envelope domain: mailauth evaluates the domain's record for an
 * address the provider's own SPF record authorizes (so an include that does not cover the provider, a record over
 * the ten-lookup limit or a syntax error are caught as a receiver would); when the provider's record cannot be read,
 * the include is looked for in the text and the record still evaluated for its limits.
 */
export async function checkSpf(
  resolve: DnsResolve,
  envelope: string,
  includes: string[],
  provider: string,
): Promise<SpfOutcome> {
  let records: string[];
  try {
    records = (await txtRecords(resolve, envelope)).filter((r) => SPF_RECORD.test(r));
  } catch (error) {
    const says = `SPF of ${envelope} could not be read: ${(error as Error).message}`;
    return { pass: false, check: { check: 'spf', verdict: 'unknown', name: envelope, says } };
  }
  if (records.length === 0) {
    const fix: DnsRecord = {
      name: envelope,
      type: 'TXT',
      value: spfWith(undefined, includes.slice(0, 1)),
      action: 'add',
    };
    return {
      pass: false,
      check: { check: 'spf', verdict: 'fail', name: envelope, says: `${envelope} publishes no SPF record`, fix },
    };
  }
  if (records.length > 1) {
    const merged = spfWith(records[0], includes.slice(0, 1));
    return {
      pass: false,
      check: {
        check: 'spf',
        verdict: 'fail',
        name: envelope,
        says: `${envelope} publishes ${records.length} SPF records: receivers answer permerror; keep one`,
        fix: { name: envelope, type: 'TXT', value: merged, action: 'replace' },
      },
    };
  }
  const record = records[0] as string;
  const sample = await sampleAddress(resolve, includes);
  const result = await spf({
    sender: `postmaster@${envelope}`,
    ip: sample ?? DOC_ADDRESS,
    helo: envelope,
    mta: 'mailroute-doctor',
    resolver: resolve as never,
  });
  const outcome = result.status.result;
  const lookups = result.lookups ? ` (${result.lookups.count} of ${result.lookups.limit} DNS lookups)` : '';
  const replace: DnsRecord = {
    name: envelope,
    type: 'TXT',
    value: spfWith(record, includes.slice(0, 1)),
    action: 'replace',
  };
  if (outcome === 'permerror') {
    const why = result.status.comment ? `: ${result.status.comment}` : '';
    const limit = result.lookups && result.lookups.count > result.lookups.limit;
    return {
      pass: false,
      record,
      check: {
        check: 'spf',
        verdict: 'fail',
        name: envelope,
        says: `the SPF record of ${envelope} is invalid${limit ? `: over the ${result.lookups?.limit}-lookup limit` : ''}${why}${lookups}`,
        ...(limit ? {} : { fix: replace }),
      },
    };
  }
  if (outcome === 'temperror') {
    const says = `SPF of ${envelope} could not be evaluated (temperror)${result.status.comment ? `: ${result.status.comment}` : ''}`;
    return { pass: false, record, check: { check: 'spf', verdict: 'unknown', name: envelope, says } };
  }
  const included = record
    .split(/\s+/)
    .some((t) => includes.some((i) => t.toLowerCase() === `include:${i}`.toLowerCase()));
  const pass = sample ? outcome === 'pass' : included;
  if (!pass) {
    return {
      pass,
      record,
      check: {
        check: 'spf',
        verdict: 'fail',
        name: envelope,
        says: `the SPF record of ${envelope} does not authorize ${provider} (${includes.map((i) => `include:${i}`).join(' or ')} missing: mail from ${provider} gets "${outcome}")`,
        fix: replace,
      },
    };
  }
  const near = result.lookups && result.lookups.count >= result.lookups.limit - 1;
  return {
    pass,
    record,
    check: {
      check: 'spf',
      verdict: near ? 'warn' : 'ok',
      name: envelope,
      says: `${envelope} authorizes ${provider}${sample ? '' : ` (by its include; the include's own record could not be read)`}${lookups}${near ? ': one include more and receivers answer permerror' : ''}`,
    },
  };
}

function spkiBase64(key: string | Buffer): string | undefined {
  try {
    const text = Buffer.isBuffer(key) ? key.toString() : key;
    const object = text.includes('BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    return object.export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    return undefined;
  }
}

/** The public key (SPKI, base64) of a PEM private key, for the TXT record an SMTP entry's own DKIM key needs. */
export function publicKeyOf(privateKeyPem: string): string | undefined {
  try {
    return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    return undefined;
  }
}

/**
 * One DKIM key: the CNAME the provider asked for (pointing at its key), or the key itself as TXT; parsed by
 * mailauth as a verifier would (version, key type, an RSA key under 1024 bits refused).
 */
export async function checkDkimKey(
  resolve: DnsResolve,
  signingDomain: string,
  key: ExpectedDkimKey,
  provider: string,
): Promise<Check> {
  const name = `${key.selector}._domainkey.${signingDomain}`;
  if (key.cname) {
    let targets: string[] = [];
    try {
      targets = ((await resolve(name, 'CNAME')) as string[]).map(normalizeName);
    } catch (error) {
      if (!isNoRecord(error)) {
        return {
          check: 'dkim',
          verdict: 'unknown',
          name,
          says: `${name} could not be read: ${(error as Error).message}`,
        };
      }
    }
    const fix: DnsRecord = {
      name,
      type: 'CNAME',
      value: normalizeName(key.cname),
      action: targets.length ? 'replace' : 'add',
    };
    if (!targets.includes(normalizeName(key.cname))) {
      const now = targets.length ? `points at ${targets.join(', ')}` : 'is not published';
      return { check: 'dkim', verdict: 'fail', name, says: `${provider}'s DKIM key ${name} ${now}`, fix };
    }
  }
  try {
    const found = await getPublicKey('DKIM', name, 1024, resolve);
    if (key.publicKey && spkiBase64(found.publicKey) !== spkiBase64(key.publicKey)) {
      return {
        check: 'dkim',
        verdict: 'fail',
        name,
        says: `${name} publishes a different key than the one ${provider} signs with`,
        fix: { name, type: 'TXT', value: `v=DKIM1; k=rsa; p=${key.publicKey}`, action: 'replace' },
      };
    }
    const bits = found.modulusLength ? `, ${found.modulusLength}-bit ${found.keyType}` : '';
    return { check: 'dkim', verdict: 'ok', name, says: `${name} holds ${provider}'s key${bits}` };
  } catch (error) {
    const message = (error as Error).message;
    if (key.cname) {
      // The CNAME is right; the provider's side of it did not answer (a key not yet generated, or a DNS blip).
      return {
        check: 'dkim',
        verdict: 'warn',
        name,
        says: `${name} points at ${provider}, whose key did not resolve: ${message}`,
      };
    }
    const value = `v=DKIM1; k=rsa; p=${key.publicKey ?? `<the public key ${provider} gives for selector ${key.selector}>`}`;
    const absent = /Missing key value|ENOTFOUND|ENODATA/.test(message) || isNoRecord(error);
    return {
      check: 'dkim',
      verdict: 'fail',
      name,
      says: absent ? `${provider}'s DKIM key ${name} is not published` : `${name} is not a usable DKIM key: ${message}`,
      fix: { name, type: 'TXT', value, action: absent ? 'add' : 'replace' },
    };
  }
}

/** The MX records a custom MAIL FROM domain needs (bounces reach the provider through them). */
export async function checkMx(resolve: DnsResolve, domain: string, hosts: string[], provider: string): Promise<Check> {
  let found: string[] = [];
  try {
    found = ((await resolve(domain, 'MX')) as { exchange: string }[]).map((m) => normalizeName(m.exchange));
  } catch (error) {
    if (!isNoRecord(error)) {
      return {
        check: 'mx',
        verdict: 'unknown',
        name: domain,
        says: `MX of ${domain} could not be read: ${(error as Error).message}`,
      };
    }
  }
  const want = hosts.map(normalizeName);
  if (want.some((h) => found.includes(h))) {
    return { check: 'mx', verdict: 'ok', name: domain, says: `${domain} sends bounces to ${provider}` };
  }
  return {
    check: 'mx',
    verdict: 'fail',
    name: domain,
    says: `the MAIL FROM domain ${domain} has ${found.length ? `MX ${found.join(', ')}, not` : 'no MX record for'} ${want[0]}: ${provider} falls back to its own MAIL FROM (or refuses to send)`,
    fix: { name: domain, type: 'MX', value: `10 ${want[0]}`, action: 'add' },
  };
}

/** The domain's DMARC policy as a receiver finds it (the record of the domain or of its organizational domain). */
export interface DmarcPolicy {
  /** The record's domain, and the policy that applies to mail from the domain: none, quarantine or reject. */
  recordDomain?: string;
  policy?: string;
  check: Check;
}

export async function checkDmarcRecord(resolve: DnsResolve, domain: string): Promise<DmarcPolicy> {
  const name = `_dmarc.${domain}`;
  const result = await dmarc({
    headerFrom: `postmaster@${domain}`,
    spfDomains: [],
    dkimDomains: [],
    resolver: resolve as never,
  });
  if (!result) {
    return { check: { check: 'dmarc', verdict: 'unknown', name, says: `${domain} is not a domain DMARC applies to` } };
  }
  if (result.status.result === 'temperror') {
    return {
      check: {
        check: 'dmarc',
        verdict: 'unknown',
        name,
        says: `DMARC of ${domain} could not be read: ${result.error ?? 'temperror'}`,
      },
    };
  }
  if (result.status.result === 'none') {
    return {
      check: {
        check: 'dmarc',
        verdict: 'warn',
        name,
        says: `${domain} publishes no DMARC record: Gmail and Yahoo require one from bulk senders, and nothing tells receivers to trust aligned mail`,
        fix: { name, type: 'TXT', value: `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}`, action: 'add' },
      },
    };
  }
  const policy = result.policy;
  return {
    recordDomain: result.policyDomain,
    policy,
    check: {
      check: 'dmarc',
      verdict: 'ok',
      name: `_dmarc.${result.policyDomain ?? domain}`,
      says: `policy ${policy} for ${domain}${result.policyDomain && result.policyDomain !== domain ? ` (from ${result.policyDomain})` : ''}${result.testMode ? ', in test mode (t=y)' : ''}`,
    },
  };
}

/**
 * Whether mail with these authenticated identifiers passes DMARC for `domain`, by mailauth's evaluation
 * (alignment relaxed or strict as the record says, organizational domains found by its tree walk). With no record
 * published, as if one were (`p=none`): whether the provider *would* align once the domain has one.
 */
export async function evaluateAlignment(
  resolve: DnsResolve,
  domain: string,
  spfPassDomains: string[],
  dkimPassDomains: string[],
  published: boolean,
): Promise<{ pass: boolean | undefined; spfAligned?: string; dkimAligned?: string; error?: string }> {
  const name = `_dmarc.${domain}`.toLowerCase();
  const resolver: DnsResolve = published
    ? resolve
    : (query, type) =>
        query.toLowerCase() === name && type === 'TXT' ? Promise.resolve([['v=DMARC1; p=none']]) : resolve(query, type);
  const result = await dmarc({
    headerFrom: `postmaster@${domain}`,
    spfDomains: spfPassDomains,
    dkimDomains: dkimPassDomains.map((d) => ({ domain: d })),
    resolver: resolver as never,
  });
  if (!result || result.status.result === 'temperror' || result.status.result === 'none') {
    return { pass: undefined, error: result ? (result.error ?? result.status.result) : 'not a DMARC domain' };
  }
  return {
    pass: result.status.result === 'pass',
    spfAligned: result.alignment.spf.result || undefined,
    dkimAligned: result.alignment.dkim.result || undefined,
  };
}
