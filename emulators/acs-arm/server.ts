import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import { readBody } from '../common/faults.ts';
import { authority, closeServer, listen, writeJson } from '../common/http.ts';

/**
 * A minimal Azure Resource Manager for the Email Communication Service and its domains
 * (`Microsoft.Communication/emailServices[/domains]`, read-only: GET), and the Microsoft Entra token endpoint the
 * credential gets its ARM token from, on one HTTPS server on loopback. Written from the REST spec
 * (azure-rest-api-specs, Microsoft.Communication `domains/get.json` example, and the wire names of the
 * `DomainResource` model) and Entra's documented OAuth 2.0 client credentials answers.
 *
 * HTTPS only: msal (behind `@azure/identity`) refuses an authority that is not https, and the Azure SDK's bearer
 * token policy refuses to send a token over plain http, so a client needs the emulator's certificate (`ca`) as a
 * trusted CA (`tlsOptions: { ca }`).
 */

/** The verification status values of the spec's `VerificationStatus`. */
export type AcsVerificationStatus =
  | 'NotStarted'
  | 'VerificationRequested'
  | 'VerificationInProgress'
  | 'VerificationFailed'
  | 'Verified'
  | 'CancellationRequested';

/** The record kinds of `verificationStates` and `verificationRecords`, by their wire names. */
export type AcsVerificationKind = 'Domain' | 'SPF' | 'DKIM' | 'DKIM2' | 'DMARC';

/** A `DnsRecord` as the service returns it. */
export interface AcsDnsRecord {
  type: string;
  name: string;
  value: string;
  ttl: number;
}

/** A domain's `properties`, on the wire (`provisioningState` is added when served). */
export interface AcsDomainProperties {
  dataLocation: string;
  fromSenderDomain: string;
  mailFromSenderDomain: string;
  domainManagement: 'AzureManaged' | 'CustomerManaged' | 'CustomerManagedInExchangeOnline';
  verificationStates: Partial<Record<AcsVerificationKind, { status: AcsVerificationStatus; errorCode?: string }>>;
  verificationRecords: Partial<Record<AcsVerificationKind, AcsDnsRecord>>;
  userEngagementTracking: 'Enabled' | 'Disabled';
}

/** An Entra application (service principal) the token endpoint knows. */
export interface AcsArmClient {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Whether it has a role that reads the Email Communication Service (Reader or more): default true. */
  canRead?: boolean;
}

export interface AcsArmEmulatorOptions {
  host?: string;
  port?: number;
  /** The applications that may get tokens. */
  clients: AcsArmClient[];
  /** The subscription holding the email service (default a random GUID) and the tenant it trusts (default the first client's). */
  subscriptionId?: string;
  tenantId?: string;
  resourceGroup?: string;
  emailService?: string;
  /** The domains of the email service, by name. */
  domains?: Record<string, AcsDomainProperties>;
  /** The server's certificate and key (PEM); a self-signed one for localhost and 127.0.0.1 is made when absent. */
  tls?: { key: string; cert: string };
  /** `expires_in` of the tokens issued (default 3599 s, as Entra's). */
  tokenLifetimeSeconds?: number;
}

export interface AcsArmEmulator {
  /** `https://host:port`: the ARM endpoint and the Entra authority host. */
  url: string;
  armEndpoint: string;
  authorityHost: string;
  /** The certificate to trust (PEM). */
  ca: string;
  subscriptionId: string;
  tenantId: string;
  resourceGroup: string;
  emailService: string;
  /** Adds, replaces or (undefined) removes a domain of the email service. */
  setDomain(name: string, properties: AcsDomainProperties | undefined): void;
  /** Tokens issued, and ARM requests that reached a route (authenticated or not). */
  tokensIssued(): number;
  armRequests(): number;
  close(): Promise<void>;
}

/** The api-versions the resource type is registered with (the SDK's 4.x default is 2025-09-01). */
export const supportedArmApiVersions = [
  '2021-10-01-preview',
  '2022-07-01-preview',
  '2023-03-31',
  '2023-04-01-preview',
  '2023-06-01-preview',
  '2024-09-01-preview',
  '2025-05-01',
  '2025-05-01-preview',
  '2025-09-01',
] as const;

/** The resource identifiers (audiences) ARM accepts tokens for, besides the emulator's own URL. */
const ARM_AUDIENCES = ['https://management.azure.com', 'https://management.core.windows.net'];

/** One answer, as a value. */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface IssuedToken {
  tenantId: string;
  clientId: string;
  audience: string;
  expiresAt: number;
}

interface State {
  url: string;
  clients: AcsArmClient[];
  subscriptionId: string;
  tenantId: string;
  resourceGroup: string;
  emailService: string;
  domains: Map<string, { name: string; properties: AcsDomainProperties }>;
  tokens: Map<string, IssuedToken>;
  lifetimeSeconds: number;
  issued: number;
  armRequests: number;
}

/**
 * The records a custom domain is given, as the service documents them for the public cloud: a TXT ownership
 * record, SPF `include:spf.protection.outlook.com` and two DKIM CNAMEs into `azurecomm.net`.
 */
export function documentedRecords(domain: string): Record<'Domain' | 'SPF' | 'DKIM' | 'DKIM2', AcsDnsRecord> {
  const dkim = (selector: string): AcsDnsRecord => ({
    type: 'CNAME',
    name: `${selector}._domainkey`,
    value: `${selector}._domainkey.azurecomm.net`,
    ttl: 3600,
  });
  return {
    Domain: { type: 'TXT', name: domain, value: `ms-domain-verification=${randomUUID()}`, ttl: 3600 },
    SPF: { type: 'TXT', name: domain, value: 'v=spf1 include:spf.protection.outlook.com -all', ttl: 3600 },
    DKIM: dkim('selector1-azurecomm-prod-net'),
    DKIM2: dkim('selector2-azurecomm-prod-net'),
  };
}

/**
 * A customer-managed domain: every status `Verified` unless given (`dkim2` follows `dkim`), the documented
 * records unless replaced one by one in `records`.
 */
export function customDomain(
  name: string,
  options: {
    domain?: AcsVerificationStatus;
    spf?: AcsVerificationStatus;
    dkim?: AcsVerificationStatus;
    dkim2?: AcsVerificationStatus;
    dmarc?: AcsVerificationStatus;
    records?: Partial<Record<AcsVerificationKind, AcsDnsRecord>>;
    domainManagement?: AcsDomainProperties['domainManagement'];
    dataLocation?: string;
  } = {},
): AcsDomainProperties {
  const status = (value: AcsVerificationStatus | undefined) => ({ status: value ?? ('Verified' as const) });
  return {
    dataLocation: options.dataLocation ?? 'United States',
    fromSenderDomain: name,
    mailFromSenderDomain: name,
    domainManagement: options.domainManagement ?? 'CustomerManaged',
    verificationStates: {
      Domain: status(options.domain),
      SPF: status(options.spf),
      DKIM: status(options.dkim),
      DKIM2: status(options.dkim2 ?? options.dkim),
      ...(options.dmarc ? { DMARC: status(options.dmarc) } : {}),
    },
    verificationRecords: { ...documentedRecords(name), ...options.records },
    userEngagementTracking: 'Disabled',
  };
}

/**
 * Starts the emulator on loopback (port 0: a free one).
 * @example
 * const arm = await startAcsArmEmulator({ clients: [{ tenantId, clientId, clientSecret }], domains: {
 *   'example.com': customDomain('example.com') } });
 * new ClientSecretCredential(tenantId, clientId, clientSecret,
 *   { authorityHost: arm.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: arm.ca } });
 */
export async function startAcsArmEmulator(options: AcsArmEmulatorOptions): Promise<AcsArmEmulator> {
  const tls = options.tls ?? (await selfSigned());
  const state: State = {
    url: '',
    clients: options.clients,
    subscriptionId: options.subscriptionId ?? randomUUID(),
    tenantId: options.tenantId ?? options.clients[0]?.tenantId ?? randomUUID(),
    resourceGroup: options.resourceGroup ?? 'mailroute-rg',
    emailService: options.emailService ?? 'mailroute-email',
    domains: new Map(),
    tokens: new Map(),
    lifetimeSeconds: options.tokenLifetimeSeconds ?? 3599,
    issued: 0,
    armRequests: 0,
  };
  const setDomain = (name: string, properties: AcsDomainProperties | undefined) => {
    if (properties) state.domains.set(name.toLowerCase(), { name, properties });
    else state.domains.delete(name.toLowerCase());
  };
  for (const [name, properties] of Object.entries(options.domains ?? {})) setDomain(name, properties);

  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(state, req)
      .catch((error: unknown) => armError(500, 'InternalServerError', String(error)))
      .then((answer) => {
        if (!res.headersSent) writeJson(res, answer.status, answer.body, JSON_TYPE, answer.headers);
      });
  });
  const host = options.host ?? '127.0.0.1';
  state.url = `https://${authority(host, await listen(server, options.port, host))}`;
  return {
    url: state.url,
    armEndpoint: state.url,
    authorityHost: state.url,
    ca: tls.cert,
    subscriptionId: state.subscriptionId,
    tenantId: state.tenantId,
    resourceGroup: state.resourceGroup,
    emailService: state.emailService,
    setDomain,
    tokensIssued: () => state.issued,
    armRequests: () => state.armRequests,
    close: () => closeServer(server),
  };
}

async function selfSigned(): Promise<{ key: string; cert: string }> {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

async function handle(state: State, req: IncomingMessage): Promise<Answer> {
  const url = new URL(req.url ?? '/', state.url);
  const body = await readBody(req);
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  // Entra: /{tenant}/v2.0/.well-known/openid-configuration and /{tenant}/oauth2/v2.0/token.
  if (segments[0]?.toLowerCase() !== 'subscriptions') {
    const tail = segments.slice(1).join('/');
    if (req.method === 'GET' && tail === 'v2.0/.well-known/openid-configuration') {
      return openIdConfiguration(state, segments[0]!);
    }
    if (req.method === 'POST' && tail === 'oauth2/v2.0/token') return token(state, segments[0]!, body);
    return {
      status: 404,
      body: { error: 'not_found', error_description: `No route for ${req.method} ${url.pathname}.` },
    };
  }
  state.armRequests += 1;
  return arm(state, req, url, segments);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const NO_STORE = { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' };

// ---------------------------------------------------------------------------------------------------------------
// Microsoft Entra ID (v2.0 endpoints)

function tenantKnown(state: State, tenant: string): boolean {
  return state.clients.some((client) => client.tenantId === tenant) || tenant === state.tenantId;
}

/** The tenant's OpenID Connect metadata: msal reads `token_endpoint` (and checks `issuer`) from it. */
function openIdConfiguration(state: State, tenant: string): Answer {
  if (!tenantKnown(state, tenant)) return entraError(400, 'invalid_tenant', 90002, tenantNotFound(tenant));
  const base = `${state.url}/${tenant}`;
  return {
    status: 200,
    body: {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    },
  };
}

/** The client credentials grant with a client secret (in the form body, as msal sends it). */
function token(state: State, tenant: string, body: Buffer): Answer {
  if (!tenantKnown(state, tenant)) return entraError(400, 'invalid_tenant', 90002, tenantNotFound(tenant));
  const form = new URLSearchParams(body.toString('utf8'));
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    const message = `AADSTS70003: The app requested an unsupported grant type '${grant ?? ''}'.`;
    return entraError(400, 'unsupported_grant_type', 70003, message);
  }
  const clientId = form.get('client_id') ?? '';
  const client = state.clients.find((c) => c.tenantId === tenant && c.clientId === clientId);
  if (!client) {
    const message = `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`;
    return entraError(400, 'unauthorized_client', 700016, message);
  }
  const secret = form.get('client_secret');
  if (secret === null) {
    const message = `AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.`;
    return entraError(401, 'invalid_client', 7000218, message);
  }
  if (!sameText(secret, client.clientSecret)) {
    const message = `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`;
    return entraError(401, 'invalid_client', 7000215, message);
  }
  const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
  const resourceScope = scopes.find((scope) => !['openid', 'profile', 'offline_access'].includes(scope));
  if (!resourceScope?.endsWith('/.default')) {
    const message = `AADSTS1002012: The provided value for scope ${resourceScope ?? ''} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`;
    return entraError(400, 'invalid_scope', 1002012, message);
  }
  const audience = resourceScope.slice(0, -'/.default'.length).replace(/\/+$/, '');
  if (![...ARM_AUDIENCES, state.url].includes(audience)) {
    const message = `AADSTS500011: The resource principal named ${audience} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`;
    return entraError(400, 'invalid_resource', 500011, message);
  }
  const accessToken = randomBytes(32).toString('base64url');
  state.tokens.set(accessToken, {
    tenantId: tenant,
    clientId,
    audience,
    expiresAt: Date.now() + state.lifetimeSeconds * 1000,
  });
  state.issued += 1;
  return {
    status: 200,
    body: {
      token_type: 'Bearer',
      expires_in: state.lifetimeSeconds,
      ext_expires_in: state.lifetimeSeconds,
      access_token: accessToken,
    },
    headers: NO_STORE,
  };
}

function tenantNotFound(tenant: string): string {
  return `AADSTS90002: Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`;
}

/** Entra's OAuth error body. */
function entraError(status: number, error: string, code: number, description: string): Answer {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    status,
    body: {
      error,
      error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
    headers: NO_STORE,
  };
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

// ---------------------------------------------------------------------------------------------------------------
// Azure Resource Manager

/**
 * `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Communication/emailServices/{svc}/domains/{d}`.
 * ARM checks the token first (401 with a `WWW-Authenticate` challenge), then the api-version, then the
 * subscription and the caller's role on the scope, then the resource itself. Path segments other than the names
 * are matched without regard to case, as ARM does; names are too.
 */
function arm(state: State, req: IncomingMessage, url: URL, segments: string[]): Answer {
  const authorization = req.headers.authorization;
  if (!authorization?.startsWith('Bearer ')) {
    return armError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
      'www-authenticate': challenge(
        state,
        'invalid_token',
        "The authentication failed because of missing 'Authorization' header.",
      ),
    });
  }
  const issued = state.tokens.get(authorization.slice('Bearer '.length).trim());
  if (!issued || issued.expiresAt <= Date.now()) {
    const expired = issued !== undefined;
    const message = expired ? 'The token is expired.' : 'The access token is invalid.';
    return armError(401, expired ? 'ExpiredAuthenticationToken' : 'InvalidAuthenticationToken', message, {
      'www-authenticate': challenge(state, 'invalid_token', message),
    });
  }
  if (![...ARM_AUDIENCES, state.url].includes(issued.audience)) {
    const message = `The access token has been obtained for wrong audience or resource '${issued.audience}'. It should exactly match with one of the allowed audiences '${ARM_AUDIENCES.join("','")}'.`;
    return armError(401, 'InvalidAuthenticationToken', message, {
      'www-authenticate': challenge(state, 'invalid_token', message),
    });
  }

  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    const message = 'The api-version query parameter (?api-version=) is required for all requests.';
    return armError(400, 'MissingApiVersionParameter', message);
  }

  const [, subscription] = segments;
  const shape = [
    'subscriptions',
    '',
    'resourcegroups',
    '',
    'providers',
    'microsoft.communication',
    'emailservices',
    '',
  ];
  const fits = (parts: string[]) =>
    segments.length === parts.length && parts.every((part, i) => part === '' || segments[i]!.toLowerCase() === part);
  const route = fits(shape) ? 'emailService' : fits([...shape, 'domains', '']) ? 'domain' : undefined;
  if (subscription && subscription.toLowerCase() !== state.subscriptionId.toLowerCase()) {
    return armError(404, 'SubscriptionNotFound', `The subscription '${subscription}' could not be found.`);
  }
  if (issued.tenantId !== state.tenantId) {
    const message = `The access token is from the wrong issuer '${state.url}/${issued.tenantId}/'. It must match the tenant '${state.url}/${state.tenantId}/' associated with this subscription. Please use the authority (URL) '${state.url}/${state.tenantId}' to get the token.`;
    return armError(401, 'InvalidAuthenticationTokenTenant', message, {
      'www-authenticate': challenge(state, 'invalid_token', message),
    });
  }
  if (!route) {
    return armError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${url.href}'.`);
  }
  if (!(supportedArmApiVersions as readonly string[]).includes(apiVersion)) {
    const message = `No registered resource provider found for location 'global' and API version '${apiVersion}' for type 'emailServices'. The supported api-versions are '${supportedArmApiVersions.join(', ')}'. The supported locations are 'global'.`;
    return armError(400, 'NoRegisteredProviderFound', message);
  }
  const [resourceGroup, service, domain] = [segments[3]!, segments[7]!, segments[9]];
  if (resourceGroup.toLowerCase() !== state.resourceGroup.toLowerCase()) {
    return armError(404, 'ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
  }
  const type = route === 'domain' ? 'emailServices/domains' : 'emailServices';
  const scope = `/${segments.join('/')}`;
  const client = state.clients.find((c) => c.tenantId === issued.tenantId && c.clientId === issued.clientId);
  if (client?.canRead === false) {
    const message = `The client '${issued.clientId}' with object id '${issued.clientId}' does not have authorization to perform action 'Microsoft.Communication/${type}/read' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;
    return armError(403, 'AuthorizationFailed', message);
  }
  if (req.method !== 'GET') {
    return armError(405, 'MethodNotAllowed', `The emulator serves only GET, not ${req.method}.`);
  }
  const notFound = (resource: string) => {
    const message = `The Resource 'Microsoft.Communication/${resource}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`;
    return armError(404, 'ResourceNotFound', message);
  };
  if (service.toLowerCase() !== state.emailService.toLowerCase()) return notFound(`emailServices/${service}`);
  // The spec's examples spell the ids and types this way, and the location `Global`.
  const serviceId = `/subscriptions/${state.subscriptionId}/resourceGroups/${state.resourceGroup}/providers/Microsoft.Communication/EmailServices/${state.emailService}`;
  if (route === 'emailService') {
    const body = {
      id: serviceId,
      name: state.emailService,
      type: 'Microsoft.Communication/EmailServices',
      location: 'Global',
      tags: {},
      properties: { provisioningState: 'Succeeded', dataLocation: 'United States' },
    };
    return { status: 200, body, headers: armHeaders(req) };
  }
  const found = state.domains.get(domain!.toLowerCase());
  if (!found) return notFound(`emailServices/${service}/domains/${domain}`);
  const body = {
    id: `${serviceId}/Domains/${found.name}`,
    name: found.name,
    type: 'Microsoft.Communication/EmailServices/Domains',
    location: 'Global',
    properties: { provisioningState: 'Succeeded', ...found.properties },
  };
  return { status: 200, body, headers: armHeaders(req) };
}

function challenge(state: State, error: string, description: string): string {
  return `Bearer authorization_uri="${state.url}/${state.tenantId}", error="${error}", error_description="${description.replaceAll('"', "'")}"`;
}

/** ARM's request ids: a correlation id the client sent is echoed. */
function armHeaders(req?: IncomingMessage): Record<string, string> {
  const requestId = randomUUID();
  const correlation = req?.headers['x-ms-correlation-request-id'];
  return {
    'cache-control': 'no-cache',
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id': typeof correlation === 'string' ? correlation : randomUUID(),
    'x-ms-routing-request-id': `GLOBAL:${new Date().toISOString().replace(/[-:.]/g, '')}:${requestId}`,
  };
}

/** ARM's `ErrorResponse`: `{ error: { code, message } }` with `x-ms-failure-cause` on gateway-side failures. */
function armError(status: number, code: string, message: string, headers: Record<string, string> = {}): Answer {
  const cause: Record<string, string> = status === 401 || status === 403 ? { 'x-ms-failure-cause': 'gateway' } : {};
  return { status, body: { error: { code, message } }, headers: { ...armHeaders(), ...cause, ...headers } };
}
