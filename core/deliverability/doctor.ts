import { type MailrouteConfig, type ProviderConfig, resolveSecret } from '../config/schema.ts';
import { parseSenderEntry } from '../config/senders-config.ts';
import type { DomainSetup } from '../contract/deliverability.ts';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { ConfigurationError } from '../errors.ts';
import { domainKey, toAsciiDomain } from '../message/address.ts';
import {
  type Check,
  checkDkimKey,
  checkDmarcRecord,
  checkMx,
  checkSpf,
  type DnsRecord,
  evaluateAlignment,
  publicKeyOf,
  spfWith,
  type Verdict,
} from './checks.ts';
import { type DnsResolve, normalizeName } from './resolver.ts';

export interface DoctorOptions {
  registry: ProviderRegistry;
  resolve: DnsResolve;
  /** Only this sender domain (else every domain the configuration can send from). */
  domain?: string;
  /** Only this route. */
  route?: string;
  /** Ask the providers' APIs for their records (default true). */
  useApi?: boolean;
  /** Bound on each provider API call (default 5000 ms). */
  apiTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** One provider entry of a route, for one sender domain. */
export interface ProviderReport {
  entry: string;
  provider: string;
  mode: 'smtp' | 'api';
  /** `primary`, `failover #1`, ... in the route's order. */
  role: string;
  /** Whether its mail passes DMARC for the domain: true, false, or undefined when it cannot be known. */
  dmarcPass: boolean | undefined;
  /** What aligned: `dkim`, `spf`, both, or none. */
  aligned: ('dkim' | 'spf')[];
  source: DomainSetup['source'] | 'none';
  note?: string;
  envelope?: string;
  checks: Check[];
  steps: string[];
}

export interface DomainReport {
  domain: string;
  route: string;
  /** The DMARC policy receivers apply to the domain's mail (`none` when no record is published). */
  policy: string;
  dmarc: Check;
  providers: ProviderReport[];
  /** The records to add or replace, one per name and type (SPF includes merged into one record). */
  records: DnsRecord[];
  /** `fail`: a provider of the route would fail DMARC; `unknown`: some could not be checked; `warn`; `ok`. */
  verdict: Verdict;
}

export interface DoctorReport {
  ok: boolean;
  verdict: Verdict;
  domains: DomainReport[];
  notes: string[];
}

interface Target {
  route: string;
  domain: string;
  providers: string[];
}

/** The domains an `allowedSenders` list names (an address gives its domain; `*.d` cannot be listed, so is noted). */
function allowedDomains(list: string[] | undefined, notes: string[]): string[] {
  const out: string[] = [];
  for (const text of list ?? []) {
    const entry = parseSenderEntry(text);
    if ('error' in entry) continue;
    if (entry.kind === 'subdomains') {
      notes.push(`allowedSenders "*.${entry.domain}": subdomains cannot be listed; check each with --domain`);
    } else out.push(entry.kind === 'address' ? entry.address.slice(entry.address.lastIndexOf('@') + 1) : entry.domain);
  }
  return out;
}

const unique = (list: string[]) => [...new Set(list.map((d) => d.toLowerCase()))];

/** Which sender domains each route can carry, and through which provider entries. */
export function doctorTargets(
  config: MailrouteConfig,
  only: { domain?: string; route?: string },
  notes: string[],
): Target[] {
  const routes = config.routes ?? [];
  const entryDomains = (names: string[]) =>
    names.flatMap((n) => config.providers.find((p) => p.name === n)?.domains ?? []).map(domainKey);
  const everyProvider = (() => {
    const names = config.providers.map((p) => p.name);
    const first = config.defaultProvider ?? names[0];
    return first ? [first, ...names.filter((n) => n !== first)] : names;
  })();
  const fallback = (config.defaultRoute && routes.find((r) => r.name === config.defaultRoute)) || {
    name: 'default',
    providers: everyProvider,
  };
  const topLevel = allowedDomains(config.allowedSenders, notes);
  const claimed = new Set(routes.flatMap((r) => r.senderDomains ?? []).map(domainKey));
  const candidates: { route: string; providers: string[]; domains: string[] }[] = routes.map((r) => ({
    route: r.name,
    providers: r.providers,
    domains: unique([
      ...(r.senderDomains ?? []).map(domainKey),
      ...(r.allowedSenders ? allowedDomains(r.allowedSenders, notes) : []),
      ...(r.name === fallback.name ? [...topLevel, ...entryDomains(r.providers)] : []),
    ]),
  }));
  if (!routes.some((r) => r.name === fallback.name)) {
    candidates.push({
      route: fallback.name,
      providers: fallback.providers,
      domains: unique([...topLevel, ...entryDomains(fallback.providers)]).filter((d) => !claimed.has(d)),
    });
  }
  let targets: Target[];
  if (only.domain) {
    const domain = toAsciiDomain(only.domain);
    if (!domain) {
      throw new ConfigurationError(`--domain "${only.domain}" is not a domain name such as example.com`, {
        issues: [{ path: 'domain', message: 'must be a domain name' }],
      });
    }
    const byDomain = routes.find((r) => r.senderDomains?.some((d) => domainKey(d) === domain));
    const takes = byDomain ? { route: byDomain.name, providers: byDomain.providers } : fallback;
    const also = candidates.filter(
      (c) => c.domains.includes(domain) && c.route !== ('route' in takes ? takes.route : takes.name),
    );
    const first = { route: 'route' in takes ? takes.route : takes.name, providers: takes.providers, domain };
    targets = [first, ...also.map((c) => ({ route: c.route, providers: c.providers, domain }))];
    if (only.route) {
      const named = candidates.find((c) => c.route === only.route);
      targets = named ? [{ route: named.route, providers: named.providers, domain }] : [];
    }
  } else {
    targets = candidates.flatMap((c) =>
      c.domains.map((domain) => ({ route: c.route, providers: c.providers, domain })),
    );
    if (only.route) targets = targets.filter((t) => t.route === only.route);
  }
  if (only.route && !candidates.some((c) => c.route === only.route)) {
    throw new ConfigurationError(
      `--route "${only.route}" names no route (have: ${candidates.map((c) => c.route).join(', ')})`,
      {
        issues: [{ path: 'route', message: 'names no configured route' }],
      },
    );
  }
  return targets;
}

const WORST: Verdict[] = ['ok', 'warn', 'unknown', 'fail'];
const worst = (verdicts: Verdict[]): Verdict =>
  verdicts.reduce<Verdict>((a, b) => (WORST.indexOf(b) > WORST.indexOf(a) ? b : a), 'ok');

/** Whether `name` is `domain` or under it: a domain the sender's own DNS controls. */
const within = (name: string, domain: string) => name === domain || name.endsWith(`.${domain}`);

/**
 * For every sender domain the routing can send from and every provider entry each route can reach: SPF, DKIM,
 * DMARC and the MAIL FROM domain's MX, checked against the DNS, and whether each provider's mail would pass DMARC
 * for the domain, with the records to add.
 */
export async function runDoctor(config: MailrouteConfig, options: DoctorOptions): Promise<DoctorReport> {
  const notes: string[] = [];
  const targets = doctorTargets(config, options, notes);
  if (targets.length === 0) {
    notes.push(
      "the configuration names no sender domain (routes[].senderDomains, allowedSenders, or a provider entry's domains): name one with --domain",
    );
  }
  const setups = new Map<string, Promise<DomainSetup | Error>>();
  const setupOf = (entry: ProviderConfig, domain: string) => {
    const key = `${entry.name} ${domain}`;
    let found = setups.get(key);
    if (!found) {
      const descriptor = options.registry.get(entry.provider)?.deliverability;
      found = descriptor
        ? descriptor
            .expect(entry as never, domain, { useApi: options.useApi ?? true, timeoutMs: options.apiTimeoutMs ?? 5000 })
            .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))
        : Promise.resolve(new Error('no DNS setup: it sends nowhere'));
      setups.set(key, found);
    }
    return found;
  };
  const domains: DomainReport[] = [];
  for (const target of targets) {
    domains.push(await checkDomain(config, options, target, setupOf));
  }
  const verdict = worst(domains.map((d) => d.verdict));
  return { ok: verdict !== 'fail', verdict, domains, notes: [...new Set(notes)] };
}

async function checkDomain(
  config: MailrouteConfig,
  options: DoctorOptions,
  target: Target,
  setupOf: (entry: ProviderConfig, domain: string) => Promise<DomainSetup | Error>,
): Promise<DomainReport> {
  const { domain, route } = target;
  const resolve = options.resolve;
  const dmarcRecord = await checkDmarcRecord(resolve, domain);
  const published = dmarcRecord.policy !== undefined;
  const providers: ProviderReport[] = [];
  let position = 0;
  for (const name of target.providers) {
    const entry = config.providers.find((p) => p.name === name);
    if (!entry) continue;
    const limited = entry.domains?.map(domainKey);
    if (limited && !limited.includes(domain)) continue; // it never sends for this domain
    const role = position === 0 ? 'primary' : `failover #${position}`;
    position += 1;
    const setup = await setupOf(entry, domain);
    if (setup instanceof Error) {
      const local = !options.registry.get(entry.provider)?.deliverability;
      providers.push({
        entry: entry.name,
        provider: entry.provider,
        mode: entry.mode,
        role,
        dmarcPass: local ? true : undefined,
        aligned: [],
        source: 'none',
        note: local
          ? 'a local capture inbox: sends nowhere, needs no DNS'
          : `could not tell its setup: ${setup.message}`,
        checks: [],
        steps: [],
      });
      continue;
    }
    providers.push(await checkProvider(resolve, entry, domain, role, setup, published, options.env));
  }
  const records = mergeRecords([dmarcRecord.check, ...providers.flatMap((p) => p.checks)]);
  const verdicts = providers.map(
    (p): Verdict => (p.dmarcPass === false ? 'fail' : p.dmarcPass === undefined ? 'unknown' : 'ok'),
  );
  const warnings = [dmarcRecord.check, ...providers.flatMap((p) => p.checks)].some((c) => c.verdict !== 'ok');
  const verdict = worst([...verdicts, warnings ? 'warn' : 'ok']);
  return { domain, route, policy: dmarcRecord.policy ?? 'none', dmarc: dmarcRecord.check, providers, records, verdict };
}

async function checkProvider(
  resolve: DnsResolve,
  entry: ProviderConfig,
  domain: string,
  role: string,
  setup: DomainSetup,
  published: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProviderReport> {
  const checks: Check[] = [];
  const steps = [...(setup.steps ?? [])];
  // SPF: only an envelope domain under the sender's domain can align; the provider's own passes but never aligns.
  const envelope = normalizeName(setup.envelope.domain);
  const spfPassDomains: string[] = [];
  if (within(envelope, domain) || within(domain, envelope)) {
    const spf = await checkSpf(resolve, envelope, setup.spf.includes, entry.provider);
    checks.push(spf.check);
    if (spf.pass) spfPassDomains.push(envelope);
    if (setup.envelope.mx?.length) checks.push(await checkMx(resolve, envelope, setup.envelope.mx, entry.provider));
  } else {
    checks.push({
      check: 'spf',
      verdict: 'ok',
      name: envelope,
      says: `${entry.provider} sends with its own envelope domain ${envelope}: SPF passes for it but does not align with ${domain} (a custom MAIL FROM / return-path domain under ${domain} would)`,
    });
  }
  // DKIM: the provider's keys, and an SMTP entry's own key when mailroute signs.
  const dkimPassDomains: string[] = [];
  const signing = normalizeName(setup.signingDomain ?? domain);
  let dkimKnown = setup.dkim !== undefined;
  if (setup.dkim === undefined) {
    checks.push({
      check: 'dkim',
      verdict: 'unknown',
      name: `_domainkey.${signing}`,
      says: `${entry.provider}'s DKIM selectors for ${domain} cannot be known without its API${setup.note ? ` (${setup.note})` : ''}`,
    });
  } else if (setup.dkim.length === 0) {
    checks.push({
      check: 'setup',
      verdict: 'fail',
      name: domain,
      says: `${entry.provider} does not sign for ${domain}: ${setup.verified === false ? 'the domain is not set up on it' : 'DKIM is not enabled for it'}${setup.dkimStatus ? ` (${setup.dkimStatus})` : ''}`,
    });
  } else {
    const keyChecks = await Promise.all(setup.dkim.map((key) => checkDkimKey(resolve, signing, key, entry.provider)));
    checks.push(...keyChecks);
    if (keyChecks.every((c) => c.verdict === 'ok' || c.verdict === 'warn')) dkimPassDomains.push(signing);
    if (
      setup.verified === false ||
      (setup.dkimStatus && /fail|pending|not ?started|temporary/i.test(setup.dkimStatus))
    ) {
      checks.push({
        check: 'setup',
        verdict: 'warn',
        name: domain,
        says: `${entry.provider} reports ${setup.verified === false ? 'the domain as not verified' : ''}${setup.dkimStatus ? ` DKIM ${setup.dkimStatus}` : ''}: it signs once it sees the records`,
      });
    }
  }
  const own =
    entry.mode === 'smtp'
      ? (entry.smtp as { dkim?: { domainName: string; keySelector: string; privateKey: never } } | undefined)?.dkim
      : undefined;
  if (own) {
    const ownDomain = normalizeName(own.domainName);
    let publicKey: string | undefined;
    try {
      publicKey = publicKeyOf(resolveSecret(own.privateKey, `${entry.name}.smtp.dkim.privateKey`, env));
    } catch {
      publicKey = undefined; // the secret is not readable here: the key is checked for presence only
    }
    const check = await checkDkimKey(
      resolve,
      ownDomain,
      { selector: own.keySelector, ...(publicKey ? { publicKey } : {}) },
      `mailroute (${entry.name}.smtp.dkim)`,
    );
    checks.push(check);
    dkimKnown = true;
    if (check.verdict === 'ok') dkimPassDomains.push(ownDomain);
  }
  const alignment = await evaluateAlignment(resolve, domain, spfPassDomains, dkimPassDomains, published);
  const aligned: ('dkim' | 'spf')[] = [];
  if (alignment.dkimAligned) aligned.push('dkim');
  if (alignment.spfAligned) aligned.push('spf');
  // Unknown DKIM and no aligned SPF: nothing proves a pass, nothing proves a fail.
  const dmarcPass = alignment.pass === undefined ? undefined : alignment.pass ? true : dkimKnown ? false : undefined;
  if (dmarcPass === false && steps.length === 0) {
    steps.push(`publish the records below so ${entry.provider} signs for ${domain} with an aligned key`);
  }
  return {
    entry: entry.name,
    provider: entry.provider,
    mode: entry.mode,
    role,
    dmarcPass,
    aligned,
    source: setup.source,
    ...(setup.note ? { note: setup.note } : {}),
    envelope,
    checks,
    steps: dmarcPass === true ? [] : steps,
  };
}

/** One record per name and type: SPF includes asked by several providers merged into the one record a name may have. */
function mergeRecords(checks: Check[]): DnsRecord[] {
  const out = new Map<string, DnsRecord>();
  for (const check of checks) {
    const fix = check.fix;
    if (!fix) continue;
    const key = `${fix.type} ${fix.name.toLowerCase()}${fix.type === 'TXT' && /^v=spf1/i.test(fix.value) ? ' spf' : ` ${fix.value}`}`;
    const before = out.get(key);
    if (before && /^v=spf1/i.test(before.value) && /^v=spf1/i.test(fix.value)) {
      const includes = fix.value
        .split(/\s+/)
        .map((t) => /^include:(.+)$/i.exec(t)?.[1])
        .filter((i): i is string => !!i);
      out.set(key, { ...before, value: spfWith(before.value, includes) });
    } else if (!before) out.set(key, fix);
  }
  return [...out.values()];
}
