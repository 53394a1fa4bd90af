import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sesLocal from 'aws-ses-v2-local';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { resolveSesError, sendSesError } from './errors.ts';
import type { SesIdentity } from './identities.ts';

/** aws-ses-v2-local's `GET /store` answer. */
export interface SesStore {
  templates: Record<string, unknown>;
  emails: SesStoredEmail[];
}

export interface SesStoredEmail {
  messageId: string;
  from: string;
  replyTo: string[];
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  attachments: { content: string; contentType: string; filename?: string; size: number }[];
  headers?: { name: string; value: string }[];
  at: number;
}

/**
 * GetAccount's answer (`GetAccountResponse` of the SES v2 model), without `SentLast24Hours`, which the emulator counts
 * from its store.
 */
export interface SesAccount {
  SendQuota: { Max24HourSend: number; MaxSendRate: number };
  SendingEnabled: boolean;
  ProductionAccessEnabled: boolean;
  EnforcementStatus: string;
  DedicatedIpAutoWarmupEnabled: boolean;
  SuppressionAttributes?: { SuppressedReasons: string[] };
  Details?: Record<string, unknown>;
}

/**
 * An account out of the sandbox (the emulator takes any recipient, as production access does) with the quota SES
 * typically grants first (50,000 a day, 14 a second), sending enabled, and the account-level suppression list on
 * for bounces and complaints (the default of new accounts). Typical values, unverified: real accounts differ, so
 * `startSesEmulator({ account })` sets others.
 */
export const DEFAULT_SES_ACCOUNT: SesAccount = {
  SendQuota: { Max24HourSend: 50_000, MaxSendRate: 14 },
  SendingEnabled: true,
  ProductionAccessEnabled: true,
  EnforcementStatus: 'HEALTHY',
  DedicatedIpAutoWarmupEnabled: false,
  SuppressionAttributes: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
};

export interface SesEmulator {
  /** The endpoint to give `SESv2Client({ endpoint })`. */
  url: string;
  /** aws-ses-v2-local's store, read over its HTTP API. */
  store(): Promise<SesStore>;
  /** Empties the store and disarms every fault. */
  clear(): Promise<void>;
  faults: FaultPlan;
  /**
   * SendEmail requests whose body was read in full: the emulator "has" them, even while a latency fault holds
   * the answer back (and it still delivers them when their client has gone away, as SES would).
   */
  received(): number;
  /**
   * Sets (or, with undefined, deletes) the identity `GetEmailIdentity` answers for `name` (a domain or an address,
   * matched without regard to case).
   */
  setIdentity(name: string, identity: SesIdentity | undefined): void;
  close(): Promise<void>;
}

export interface SesEmulatorOptions {
  host?: string;
  port?: number;
  account?: Partial<SesAccount>;
  /** The identities `GetEmailIdentity` knows, by name; any other name is a NotFoundException. */
  identities?: Record<string, SesIdentity>;
  /**
   * IAM keys the emulator trusts. When given, every request's SigV4 signature is verified against them, as SES
   * does: an unknown access key is refused with UnrecognizedClientException, a wrong secret with
   * SignatureDoesNotMatch (both 403). Without them only the presence of an AWS `Authorization` header is checked,
   * as aws-ses-v2-local checks it.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string }[];
}

interface ProxyState {
  faults: FaultPlan;
  backendPort: number;
  counter: { received: number };
  account: SesAccount;
  identities: Map<string, SesIdentity>;
  secrets: Map<string, string> | undefined;
}

type StartSesLocal = (config?: { host?: string; port?: number }) => Promise<Server>;

// The package is CommonJS with `exports.default`: Node's ESM loader hands over module.exports, while bundling
// loaders (vitest) honour __esModule and hand over the function itself. Accept both.
const startSesLocal: StartSesLocal =
  typeof sesLocal === 'function'
    ? (sesLocal as unknown as StartSesLocal)
    : (sesLocal as unknown as { default: StartSesLocal }).default;

/**
 * Starts aws-ses-v2-local (the independent reference emulator) behind a proxy that plays armed faults
 * as SES v2 would, so `@aws-sdk/client-sesv2` raises the named exception.
 * Note: aws-ses-v2-local keeps one store per process, so two emulators in one process share it.
 * @example
 * const ses = await startSesEmulator();
 * ses.faults.add({ errorCode: 'MessageRejected' });
 */
export async function startSesEmulator(options: SesEmulatorOptions = {}): Promise<SesEmulator> {
  const host = options.host ?? '127.0.0.1';
  const account: SesAccount = { ...DEFAULT_SES_ACCOUNT, ...options.account };
  const backend = await startSesLocal({ host: '127.0.0.1', port: 0 });
  const backendPort = (backend.address() as AddressInfo).port;
  const faults = new FaultPlan();
  const counter = { received: 0 };
  const identities = new Map(Object.entries(options.identities ?? {}).map(([name, id]) => [name.toLowerCase(), id]));
  const secrets = options.credentials
    ? new Map(options.credentials.map((c) => [c.accessKeyId, c.secretAccessKey]))
    : undefined;
  const state: ProxyState = { faults, backendPort, counter, account, identities, secrets };
  const proxy = createServer((req, res) => {
    handle(req, res, state).catch((error: unknown) => {
      if (!res.headersSent) sendSesError(res, 500, 'InternalServiceErrorException');
      else res.destroy(error as Error);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(options.port ?? 0, host, resolve));
  const { port } = proxy.address() as AddressInfo;
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    store: async () => (await (await fetch(`${backendUrl}/store`)).json()) as SesStore,
    clear: async () => {
      faults.clear();
      const response = await fetch(`${backendUrl}/clear-store`, { method: 'POST' });
      if (!response.ok) throw new Error(`aws-ses-v2-local clear-store answered ${response.status}`);
    },
    faults,
    received: () => counter.received,
    setIdentity: (name, identity) => {
      if (identity) identities.set(name.toLowerCase(), identity);
      else identities.delete(name.toLowerCase());
    },
    close: async () => {
      await Promise.all([closeServer(proxy), closeServer(backend)]);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, state: ProxyState): Promise<void> {
  const { faults, backendPort, counter, account } = state;
  const path = req.url ?? '/';
  const body = await readBody(req);
  if (path === '/_emulator/received') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received: counter.received }));
    return;
  }
  if (path.startsWith('/_emulator/')) return control(req, path, body, res, faults);
  if (path.startsWith('/v2/email/outbound-emails')) counter.received++;
  // The reference emulator's own control paths are never faulted, so tests can always read the store.
  const isBackendControl = path.startsWith('/store') || path.startsWith('/clear-store');
  const fault = isBackendControl ? undefined : faults.take(path);
  if (fault) {
    if (await playLatencyAndDrop(fault, req, res)) return;
    if (fault.status || fault.errorCode) {
      const { status, code } = resolveSesError(fault.status, fault.errorCode);
      return sendSesError(res, status, code, fault.retryAfter, fault.message);
    }
  }
  if (state.secrets && !isBackendControl) {
    const refusal = verifySigV4(req, body, state.secrets);
    if (refusal) return sendSesError(res, 403, refusal.code, undefined, refusal.message);
  }
  const identity = IDENTITY_PATH.exec(path.split('?')[0] ?? '');
  if (req.method === 'GET' && identity?.[1]) return getEmailIdentity(req, res, identity[1], state.identities);
  if (req.method === 'GET' && path.split('?')[0] === '/v2/email/account' && !process.env.AWS_SES_ACCOUNT) {
    return getAccount(req, res, backendPort, account);
  }
  await forward(req, body, res, backendPort);
}

/**
 * GetAccount (`GET /v2/email/account`), which aws-ses-v2-local answers only from an `AWS_SES_ACCOUNT` variable
 * (then it is forwarded to it, as its README says) and otherwise refuses with a 400. The request is checked as
 * aws-ses-v2-local checks every other operation's (an `Authorization` header of the AWS kind; the signature itself
 * is not verified), the refusals in SES's own error shape. `SentLast24Hours` counts the recipients of the messages
 * stored in the last 24 hours: SES's quotas count recipients.
 */
async function getAccount(req: IncomingMessage, res: ServerResponse, backendPort: number, account: SesAccount) {
  const authorization = req.headers.authorization;
  if (!authorization) return sendSesError(res, 403, 'MissingAuthenticationTokenException');
  if (!authorization.startsWith('AWS')) return sendSesError(res, 403, 'IncompleteSignatureException');
  const store = (await (await fetch(`http://127.0.0.1:${backendPort}/store`)).json()) as SesStore;
  const since = Date.now() / 1000 - 24 * 60 * 60;
  const sent = store.emails
    .filter((e) => e.at >= since)
    .reduce((n, { destination: d }) => n + (d?.to?.length ?? 0) + (d?.cc?.length ?? 0) + (d?.bcc?.length ?? 0), 0);
  const body = { ...account, SendQuota: { ...account.SendQuota, SentLast24Hours: sent } };
  res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(body));
}

/** `GET /v2/email/identities/{EmailIdentity}`: one path segment, which aws-ses-v2-local does not answer. */
const IDENTITY_PATH = /^\/v2\/email\/identities\/([^/]+)$/;

/**
 * GetEmailIdentity, answered by the proxy from its configured identities (aws-ses-v2-local has no identities):
 * the identity's `GetEmailIdentityResponse`, or the model's NotFoundException (404). The request is checked as
 * GetAccount's is.
 */
function getEmailIdentity(
  req: IncomingMessage,
  res: ServerResponse,
  encoded: string,
  identities: Map<string, SesIdentity>,
) {
  const authorization = req.headers.authorization;
  if (!authorization) return sendSesError(res, 403, 'MissingAuthenticationTokenException');
  if (!authorization.startsWith('AWS')) return sendSesError(res, 403, 'IncompleteSignatureException');
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return sendSesError(res, 400, 'BadRequestException');
  }
  const identity = identities.get(name.toLowerCase());
  if (!identity)
    return sendSesError(res, 404, 'NotFoundException', undefined, `Email identity ${name} does not exist.`);
  res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(identity));
}

/** RFC 3986 encoding, as SigV4 canonicalizes paths and query strings. */
const escapeUri = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Verifies an `AWS4-HMAC-SHA256` Authorization header (SigV4, as the AWS SDK signs rest-json requests: the path
 * URI-escaped once more, the query sorted, the headers named in SignedHeaders, the body's SHA-256) against the
 * trusted keys. Returns the refusal SES would answer, or undefined when the signature holds.
 */
function verifySigV4(
  req: IncomingMessage,
  body: Buffer,
  secrets: Map<string, string>,
): { code: string; message: string } | undefined {
  const header = req.headers.authorization ?? '';
  if (!header) return { code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  const match = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(header);
  if (!match) {
    return {
      code: 'IncompleteSignatureException',
      message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
    };
  }
  const [, credential = '', signedHeaders = '', signature = ''] = match;
  const [accessKeyId = '', date = '', region = '', service = '', terminator = ''] = credential.split('/');
  const secret = secrets.get(accessKeyId);
  if (!secret) {
    return { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  }
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (service !== 'ses' || terminator !== 'aws4_request' || !amzDate.startsWith(date)) {
    return { code: 'SignatureDoesNotMatch', message: 'Credential should be scoped to a valid region and service.' };
  }
  const url = new URL(req.url ?? '/', 'http://emulator');
  const canonicalPath = url.pathname
    .split('/')
    .map((segment) => escapeUri(segment))
    .join('/');
  const query = [...url.searchParams]
    .map(([key, value]) => `${escapeUri(key)}=${escapeUri(value)}`)
    .sort()
    .join('&');
  const names = signedHeaders.split(';');
  const headerLines = names.map((name) => {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value.join(',') : (value ?? '');
    return `${name}:${text
      .replace(/[\r\n]/g, ' ')
      .replace(/[ \t]+/g, ' ')
      .trim()}`;
  });
  const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
  const canonical = [req.method, canonicalPath, query, ...headerLines, '', signedHeaders, sha256(body)].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const expected = createHmac('sha256', key).update(toSign).digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  return {
    code: 'SignatureDoesNotMatch',
    message:
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  };
}

function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, backendPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    const upstream = request(
      { host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function control(req: IncomingMessage, path: string, body: Buffer, res: ServerResponse, faults: FaultPlan): void {
  const key = `${req.method} ${path}`;
  try {
    if (key === 'POST /_emulator/faults') faults.add((body.length ? JSON.parse(body.toString('utf8')) : {}) as Fault);
    else if (key === 'DELETE /_emulator/faults') faults.clear();
    else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `unknown ${key}` }));
      return;
    }
  } catch (error) {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: String(error) }));
    return;
  }
  res.writeHead(204).end();
}
