import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorFor, sendJson, sendOciError } from './oci-errors.ts';

/**
 * The read side of the Email Delivery control plane (API 20170907, the `oci-email` SDK's EmailClient, host
 * `ctrl.email.<region>.oci.oraclecloud.com`): email domains, their DKIM keys and their return paths, listed and
 * read as the SDK calls them (paths, query parameters, `opc-next-page` pagination, the models' JSON fields).
 * Nothing is created through it: tests set the resources with `setEmailDomains`.
 */

/** `EmailDomain` of the 20170907 model, as the service sends it (dates as RFC 3339 strings). */
export interface OciEmailDomain {
  id: string;
  name: string;
  compartmentId: string;
  lifecycleState: 'ACTIVE' | 'CREATING' | 'DELETING' | 'DELETED' | 'FAILED' | 'UPDATING';
  activeDkimId?: string;
  isSpf?: boolean;
  domainVerificationStatus?: 'NONE' | 'DOMAINID' | 'OTHER';
  domainVerificationId?: string;
  description?: string;
  timeCreated: string;
  freeformTags?: Record<string, string>;
  definedTags?: Record<string, Record<string, unknown>>;
  systemTags?: Record<string, Record<string, unknown>>;
}

export type OciDkimState =
  | 'ACTIVE'
  | 'CREATING'
  | 'DELETING'
  | 'DELETED'
  | 'FAILED'
  | 'INACTIVE'
  | 'NEEDS_ATTENTION'
  | 'UPDATING';

/** `Dkim` of the 20170907 model. */
export interface OciDkim {
  id: string;
  /** The selector. */
  name: string;
  emailDomainId: string;
  compartmentId: string;
  lifecycleState: OciDkimState;
  lifecycleDetails?: string;
  description?: string;
  timeCreated: string;
  timeUpdated?: string;
  /** `<selector>._domainkey.<domain>`: where the CNAME goes. */
  dnsSubdomainName?: string;
  cnameRecordValue?: string;
  txtRecordValue?: string;
  isImported?: boolean;
  keyLength?: number;
}

/** `EmailReturnPath` of the 20170907 model. */
export interface OciEmailReturnPath {
  id: string;
  name: string;
  parentResourceId: string;
  compartmentId: string;
  lifecycleState: 'ACTIVE' | 'CREATING' | 'DELETING' | 'DELETED' | 'FAILED' | 'NEEDS_ATTENTION' | 'UPDATING';
  lifecycleDetails?: string;
  description?: string;
  dnsSubdomainName?: string;
  cnameRecordValue?: string;
  timeCreated: string;
  timeUpdated?: string;
}

/** One email domain with its DKIM keys and return paths, as `setEmailDomains` takes them. */
export interface OciEmailDomainSetup {
  domain: OciEmailDomain;
  dkims: OciDkim[];
  returnPaths: OciEmailReturnPath[];
}

/** The control plane's state: the email domains the emulator knows. */
export interface OciEmailControlState {
  domains: OciEmailDomainSetup[];
}

const ocid = (kind: string, regionKey: string) =>
  `ocid1.${kind}.oc1.${regionKey}.${randomBytes(30).toString('hex').slice(0, 60)}`;

const yyyymmdd = (date: Date) => date.toISOString().slice(0, 10).replace(/-/g, '');

/**
 * An email domain as it stands once set up: ACTIVE, with one DKIM key (ACTIVE unless `dkimState` says other) whose
 * selector follows Oracle's suggestion `<prefix>-<region key>-<YYYYMMDD>` (`mailroute-iad-20261207`) and whose
 * CNAME value is `<selector>.<domain>.dkim.<region key>.oracleemaildelivery.com`, and, with `returnPath`, a
 * custom return path (Oracle's suggested name `<region key>.rp.<domain>`, ACTIVE unless said other).
 * @example
 * oci.setEmailDomains([emailDomainWithDkim('example.com', { compartmentId })]);
 */
export function emailDomainWithDkim(
  name: string,
  options: {
    compartmentId: string;
    /** The region's three-letter key (`iad` for us-ashburn-1). */
    regionKey?: string;
    selector?: string;
    domainState?: OciEmailDomain['lifecycleState'];
    /** No DKIM key at all with `null`. */
    dkimState?: OciDkimState | null;
    returnPath?:
      | boolean
      | Partial<Pick<OciEmailReturnPath, 'name' | 'lifecycleState' | 'dnsSubdomainName' | 'cnameRecordValue'>>;
  },
): OciEmailDomainSetup {
  const regionKey = options.regionKey ?? 'iad';
  const now = new Date();
  const domainId = ocid('emaildomain', regionKey);
  const compartmentId = options.compartmentId;
  const dkims: OciDkim[] = [];
  if (options.dkimState !== null) {
    const selector = options.selector ?? `mailroute-${regionKey}-${yyyymmdd(now)}`;
    dkims.push({
      id: ocid('emaildkim', regionKey),
      name: selector,
      emailDomainId: domainId,
      compartmentId,
      lifecycleState: options.dkimState ?? 'ACTIVE',
      timeCreated: now.toISOString(),
      timeUpdated: now.toISOString(),
      dnsSubdomainName: `${selector}._domainkey.${name}`,
      cnameRecordValue: `${selector}.${name}.dkim.${regionKey}.oracleemaildelivery.com`,
      isImported: false,
      keyLength: 2048,
    });
  }
  const returnPaths: OciEmailReturnPath[] = [];
  if (options.returnPath) {
    const given = options.returnPath === true ? {} : options.returnPath;
    returnPaths.push({
      id: ocid('emailreturnpath', regionKey),
      name: given.name ?? `${regionKey}.rp.${name}`,
      parentResourceId: domainId,
      compartmentId,
      lifecycleState: given.lifecycleState ?? 'ACTIVE',
      ...(given.dnsSubdomainName ? { dnsSubdomainName: given.dnsSubdomainName } : {}),
      ...(given.cnameRecordValue ? { cnameRecordValue: given.cnameRecordValue } : {}),
      timeCreated: now.toISOString(),
    });
  }
  const active = dkims.find((d) => d.lifecycleState === 'ACTIVE');
  return {
    domain: {
      id: domainId,
      name,
      compartmentId,
      lifecycleState: options.domainState ?? 'ACTIVE',
      ...(active ? { activeDkimId: active.id } : {}),
      isSpf: false,
      domainVerificationStatus: 'NONE',
      timeCreated: now.toISOString(),
      freeformTags: {},
      definedTags: {},
    },
    dkims,
    returnPaths,
  };
}

export const CONTROL_BASE = '/20170907';

/** The fields each model's `...Summary` carries (the list answers); the rest come only from the get calls. */
const DOMAIN_SUMMARY = [
  'name',
  'id',
  'compartmentId',
  'lifecycleState',
  'activeDkimId',
  'description',
  'timeCreated',
  'freeformTags',
  'definedTags',
  'systemTags',
] as const;
const DKIM_SUMMARY = [
  'name',
  'id',
  'emailDomainId',
  'compartmentId',
  'lifecycleState',
  'description',
  'timeCreated',
  'timeUpdated',
  'isImported',
  'keyLength',
] as const;
const RETURN_PATH_SUMMARY = [
  'name',
  'id',
  'parentResourceId',
  'compartmentId',
  'lifecycleState',
  'description',
  'timeCreated',
  'timeUpdated',
] as const;

function pick<T extends object>(value: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([key, v]) => keys.includes(key) && v !== undefined),
  ) as Partial<T>;
}

/**
 * Answers a signed GET under `/20170907`: list and get of email domains, DKIM keys and email return paths. The
 * caller has checked the signature; unknown paths and ids answer OCI's 404 NotAuthorizedOrNotFound.
 */
export function handleEmailControl(
  state: OciEmailControlState,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
) {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const parts = url.pathname.slice(CONTROL_BASE.length + 1).split('/');
  const [collection, id, ...rest] = parts;
  if (rest.length > 0 || !collection || !['emailDomains', 'dkims', 'emailReturnPaths'].includes(collection)) {
    return sendOciError(res, errorFor(404), requestId);
  }
  // Creating, updating and deleting are not emulated.
  if (req.method !== 'GET') return sendOciError(res, errorFor(405), requestId);
  const query = url.searchParams;
  const domains = state.domains.map((s) => s.domain);
  const dkims = state.domains.flatMap((s) => s.dkims);
  const paths = state.domains.flatMap((s) => s.returnPaths);

  if (id !== undefined) {
    const all: { id: string }[] = collection === 'emailDomains' ? domains : collection === 'dkims' ? dkims : paths;
    const found = all.find((r) => r.id === decodeURIComponent(id));
    if (!found) return sendOciError(res, errorFor(404), requestId);
    return sendJson(res, 200, found, requestId, { etag: etagOf(found) });
  }

  let items: object[];
  if (collection === 'emailDomains') {
    const compartmentId = query.get('compartmentId');
    if (!compartmentId) return sendOciError(res, missing('compartmentId'), requestId);
    items = domains
      .filter((d) => d.compartmentId === compartmentId && matches(d, query))
      .map((d) => pick(d, DOMAIN_SUMMARY));
  } else if (collection === 'dkims') {
    const emailDomainId = query.get('emailDomainId');
    if (!emailDomainId) return sendOciError(res, missing('emailDomainId'), requestId);
    items = dkims
      .filter((d) => d.emailDomainId === emailDomainId && matches(d, query))
      .map((d) => pick(d, DKIM_SUMMARY));
  } else {
    const compartmentId = query.get('compartmentId');
    const parentResourceId = query.get('parentResourceId');
    if (!compartmentId && !parentResourceId) {
      return sendOciError(res, missing('compartmentId or parentResourceId'), requestId);
    }
    items = paths
      .filter(
        (p) =>
          (!compartmentId || p.compartmentId === compartmentId) &&
          (!parentResourceId || p.parentResourceId === parentResourceId) &&
          matches(p, query),
      )
      .map((p) => pick(p, RETURN_PATH_SUMMARY));
  }
  return sendPage(res, items, query, requestId);
}

/** The filters every list takes: `id`, `name` (exact) and `lifecycleState`. */
function matches(resource: { id: string; name: string; lifecycleState: string }, query: URLSearchParams): boolean {
  const id = query.get('id');
  const name = query.get('name');
  const lifecycleState = query.get('lifecycleState');
  return (
    (!id || resource.id === id) &&
    (!name || resource.name === name) &&
    (!lifecycleState || resource.lifecycleState === lifecycleState)
  );
}

/** One page (`limit`, 1..1000, and the `page` token of the previous answer's `opc-next-page`). */
function sendPage(res: ServerResponse, items: object[], query: URLSearchParams, requestId: string) {
  const limitText = query.get('limit');
  const limit = limitText === null ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return sendOciError(res, errorFor(400, 'limit must be an integer from 1 to 1000.'), requestId);
  }
  const pageText = query.get('page');
  const offset = pageText === null ? 0 : Number(Buffer.from(pageText, 'base64url').toString('utf8'));
  if (!Number.isInteger(offset) || offset < 0) {
    return sendOciError(res, errorFor(400, 'The page token is not valid.', 'InvalidParameter'), requestId);
  }
  const page = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
  sendJson(res, 200, { items: page }, requestId, next ? { 'opc-next-page': next } : {});
}

const missing = (parameter: string) => errorFor(400, `${parameter} is required.`, 'MissingParameter');

const etagOf = (resource: object) => createHash('sha256').update(JSON.stringify(resource)).digest('hex').slice(0, 32);
