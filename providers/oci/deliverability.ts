import { EmailClient, type models } from 'oci-email';
import { redactSecrets } from '../../core/config/secrets.ts';
import type {
  DeliverabilityContext,
  DomainSetup,
  ExpectedDkimKey,
  ExpectedEnvelope,
} from '../../core/contract/deliverability.ts';
import { untilAborted } from '../../core/util/deadline.ts';
import { apiKeyOf } from './api.ts';
import { authProvider, ociClientConfiguration, withCallSignal } from './api-client.ts';
import type { OciConfig } from './config.ts';

/** Oracle's SPF include domains for Email Delivery, by the continent of the sending region. */
const AMERICAS = 'rp.oracleemaildelivery.com';
const APAC = 'ap.rp.oracleemaildelivery.com';
const EMEA = 'eu.rp.oracleemaildelivery.com';
const ALL = [AMERICAS, APAC, EMEA];

/** DKIM keys that sign, or will once their CNAME is published: the ones whose DNS record matters. */
const DKIM_STATES = ['ACTIVE', 'NEEDS_ATTENTION', 'CREATING', 'UPDATING'];
/** Lists are followed through `opc-next-page` up to this many pages (a domain has a handful of keys). */
const MAX_PAGES = 5;

/**
 * What OCI Email Delivery needs in DNS to send for `domain` with an aligned DMARC pass: read from the Email
 * Delivery control plane (email domains, their DKIM keys and return paths, in the entry's compartment) when
 * `context.useApi` and the entry allow, else the documented pattern, with a note saying why.
 */
export async function expectSetup(
  entry: OciConfig,
  domain: string,
  context: DeliverabilityContext,
): Promise<DomainSetup> {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const region = entry.region;
  if (!context.useApi) return documented(name, region, 'the OCI API was not asked');
  if (!entry.compartmentId) {
    return documented(name, region, 'compartmentId is needed to read the email domains of a compartment');
  }
  let client: EmailClient;
  try {
    client = createEmailClient(entry);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return documented(name, region, `the entry's OCI credentials could not be loaded (${why})`);
  }
  const call = <T>(operation: string, run: () => Promise<T>) => bounded(operation, run, context.timeoutMs);
  try {
    const compartmentId = entry.compartmentId;
    const domains = await listAll((page) =>
      call('listEmailDomains', async () => {
        const res = await client.listEmailDomains({ compartmentId, name, page });
        return { items: res.emailDomainCollection.items, next: res.opcNextPage };
      }),
    );
    const match = pickDomain(domains, name);
    if (!match) {
      return {
        source: 'api',
        note: `OCI Email Delivery (${region}) has no email domain ${name} in compartment ${compartmentId}`,
        verified: false,
        dkim: [],
        envelope: { domain: regionalInclude(region).include },
        spf: { includes: regionalInclude(region).includes },
        steps: [createStep(name, region)],
      };
    }
    const summaries = await listAll((page) =>
      call('listDkims', async () => {
        const res = await client.listDkims({ emailDomainId: match.id, page });
        return { items: res.dkimCollection.items, next: res.opcNextPage };
      }),
    );
    const usable = summaries.filter((d) => DKIM_STATES.includes(d.lifecycleState ?? ''));
    // The summaries carry no DNS values: each key's CNAME is read with getDkim.
    const dkims: models.Dkim[] = [];
    for (const summary of usable) {
      dkims.push(await call('getDkim', async () => (await client.getDkim({ dkimId: summary.id })).dkim));
    }
    const paths = await listAll((page) =>
      call('listEmailReturnPaths', async () => {
        const res = await client.listEmailReturnPaths({ parentResourceId: match.id, page });
        return { items: res.emailReturnPathCollection.items, next: res.opcNextPage };
      }),
    );
    const path = pickReturnPath(paths);
    const pathDetail = path
      ? await call(
          'getEmailReturnPath',
          async () => (await client.getEmailReturnPath({ emailReturnPathId: path.id })).emailReturnPath,
        )
      : undefined;
    return fromApi(name, region, compartmentId, match, summaries, dkims, pathDetail);
  } catch (error) {
    if (error instanceof CallFailed) return documented(name, region, error.message);
    throw error;
  } finally {
    client.close();
  }
}

/** The control-plane client, with the adapter's authentication and client configuration and its endpoint override. */
function createEmailClient(entry: OciConfig): EmailClient {
  const provider = authProvider(entry, entry.auth === 'resourcePrincipal' ? undefined : apiKeyOf(entry));
  const client = new EmailClient({ authenticationDetailsProvider: provider }, ociClientConfiguration());
  // regionId builds the endpoint (ctrl.email.<region>.oci.<realm domain>) even for a region the SDK does not know.
  client.regionId = entry.region;
  if (entry.endpoint) client.endpoint = entry.endpoint.replace(/\/+$/, '');
  return client;
}

/** A call that got no usable answer; its message names the operation and the status or code, never a secret. */
class CallFailed extends Error {}

async function bounded<T>(operation: string, run: () => Promise<T>, timeoutMs: number): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await untilAborted(withCallSignal(signal, run), signal);
  } catch (error) {
    throw new CallFailed(describeFailure(operation, error, timeoutMs, signal));
  }
}

function describeFailure(operation: string, error: unknown, timeoutMs: number, signal: AbortSignal): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    statusCode?: unknown;
    serviceCode?: unknown;
    code?: unknown;
    message?: unknown;
    name?: unknown;
  };
  if (signal.aborted) return `${operation} got no answer within ${timeoutMs} ms`;
  if (typeof e.statusCode === 'number' && e.statusCode > 0) {
    const code = typeof e.serviceCode === 'string' ? e.serviceCode : 'error';
    return `${operation} refused: ${code} (HTTP ${e.statusCode})`;
  }
  // The SDK rejects a failed fetch with a plain `{ code, message: 'fetch failed', ... }`, its code often unset.
  const why = [e.code, e.message, e.name].find((v): v is string => typeof v === 'string' && v !== '') ?? 'no answer';
  return `${operation} could not reach OCI Email Delivery: ${why.slice(0, 200)}`;
}

async function listAll<T>(fetchPage: (page: string | undefined) => Promise<{ items: T[]; next?: string }>) {
  const items: T[] = [];
  let page: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const answer = await fetchPage(page);
    items.push(...answer.items);
    if (!answer.next) break;
    page = answer.next;
  }
  return items;
}

/** The domain's ACTIVE email domain, else one being set up (CREATING, UPDATING, FAILED), never a deleted one. */
function pickDomain(domains: models.EmailDomainSummary[], name: string) {
  const same = domains.filter((d) => d.name.toLowerCase() === name);
  return (
    same.find((d) => d.lifecycleState === 'ACTIVE') ??
    same.find((d) => d.lifecycleState !== 'DELETED' && d.lifecycleState !== 'DELETING')
  );
}

/** An ACTIVE return path first, else one waiting for its DNS records. */
function pickReturnPath(paths: models.EmailReturnPathSummary[]) {
  return (
    paths.find((p) => p.lifecycleState === 'ACTIVE') ??
    paths.find((p) => p.lifecycleState === 'NEEDS_ATTENTION' || p.lifecycleState === 'CREATING')
  );
}

function fromApi(
  domain: string,
  region: string,
  compartmentId: string,
  emailDomain: models.EmailDomainSummary,
  summaries: models.DkimSummary[],
  dkims: models.Dkim[],
  returnPath: models.EmailReturnPath | undefined,
): DomainSetup {
  const spf = regionalInclude(region);
  const notes = [`read from OCI Email Delivery (${region}), email domain ${emailDomain.name} in ${compartmentId}`];
  const steps: string[] = [];
  const verified = emailDomain.lifecycleState === 'ACTIVE';
  if (!verified) notes.push(`the email domain is ${emailDomain.lifecycleState ?? 'in an unknown state'}`);

  const dkim: ExpectedDkimKey[] = dkims.map((d) => ({
    selector: d.name,
    ...(d.cnameRecordValue ? { cname: d.cnameRecordValue } : {}),
  }));
  const pending = dkims.filter((d) => d.lifecycleState !== 'ACTIVE');
  if (pending.length) {
    notes.push(
      `DKIM ${pending.map((d) => `${d.name} is ${d.lifecycleState}`).join(', ')}: OCI activates a key once its CNAME is published`,
    );
  }
  if (dkims.length === 0) {
    steps.push(
      `create a DKIM key for the email domain ${domain} in OCI Email Delivery (${region}), then publish its CNAME`,
    );
  }
  const signing = summaries.find((d) => d.id === emailDomain.activeDkimId) ?? rank(summaries);
  const dkimStatus = signing?.lifecycleState;

  let envelope: ExpectedEnvelope = { domain: spf.include };
  if (returnPath?.lifecycleState === 'ACTIVE') {
    envelope = { domain: returnPath.name, mx: [`bmta.email.${region}.oci.oraclecloud.com`] };
    notes.push(`custom return path ${returnPath.name}${cnameOf(returnPath)}`);
  } else if (returnPath) {
    notes.push(
      `custom return path ${returnPath.name} is ${returnPath.lifecycleState}${cnameOf(returnPath)}: until it is ACTIVE the envelope is Oracle's bounce domain (${spf.include} stands in for it), which does not align with ${domain}`,
    );
  } else {
    notes.push(
      `no custom return path: the envelope is Oracle's bounce domain (${spf.include} stands in for it), which does not align with ${domain}`,
    );
  }

  return {
    source: 'api',
    note: notes.join('; '),
    verified,
    dkim,
    ...(dkimStatus ? { dkimStatus } : {}),
    envelope,
    spf: { includes: spf.includes },
    ...(steps.length ? { steps } : {}),
  };
}

/** The return path's own verification record, which the contract has no field for: named in the note. */
const cnameOf = (path: models.EmailReturnPath) =>
  path.dnsSubdomainName && path.cnameRecordValue
    ? ` (OCI also checks its CNAME ${path.dnsSubdomainName} -> ${path.cnameRecordValue})`
    : '';

/** The key whose state best tells DKIM's: an ACTIVE one, else one waiting for DNS, else any. */
function rank(summaries: models.DkimSummary[]) {
  const order = ['ACTIVE', 'NEEDS_ATTENTION', 'UPDATING', 'CREATING'];
  return [...summaries].sort((a, b) => rankOf(order, a.lifecycleState) - rankOf(order, b.lifecycleState))[0];
}

const rankOf = (order: string[], state: string | undefined) => {
  const i = order.indexOf(state ?? '');
  return i === -1 ? order.length : i;
};

/**
 * The SPF include for the region's continent (Oracle's table: Americas, Asia/Pacific, Europe; the "all commercial
 * regions" record includes all three, so it passes too), all three for a region whose continent is unknown.
 * The include domain also stands in for the envelope domain, Oracle's regional bounce domain under it.
 */
export function regionalInclude(region: string): { include: string; includes: string[] } {
  const prefix = region.split('-')[0] ?? '';
  if (['us', 'ca', 'sa', 'mx'].includes(prefix)) return { include: AMERICAS, includes: [AMERICAS] };
  if (prefix === 'ap') return { include: APAC, includes: [APAC] };
  if (['eu', 'uk', 'me', 'af', 'il'].includes(prefix)) return { include: EMEA, includes: [EMEA] };
  return { include: AMERICAS, includes: ALL };
}

function documented(domain: string, region: string, why: string): DomainSetup {
  const spf = regionalInclude(region);
  const known = spf.includes.length === 1;
  return {
    source: 'documented',
    note: redactSecrets(
      `${why}: the documented pattern (DKIM selectors are known only to the API; the envelope is Oracle's bounce domain, ${spf.include} standing in for it${known ? '' : `; the continent of ${region} is not known, so any of Oracle's three includes`})`,
    ),
    envelope: { domain: spf.include },
    spf: { includes: spf.includes },
    steps: [createStep(domain, region)],
  };
}

const createStep = (domain: string, region: string) =>
  `create the email domain ${domain} in OCI Email Delivery (${region}) and a DKIM key for it, then publish its CNAME`;
