import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sesLocal from 'aws-ses-v2-local';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { resolveSesError, sendSesError } from './errors.ts';

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
  close(): Promise<void>;
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
export async function startSesEmulator(
  options: { host?: string; port?: number; account?: Partial<SesAccount> } = {},
): Promise<SesEmulator> {
  const host = options.host ?? '127.0.0.1';
  const account: SesAccount = { ...DEFAULT_SES_ACCOUNT, ...options.account };
  const backend = await startSesLocal({ host: '127.0.0.1', port: 0 });
  const backendPort = (backend.address() as AddressInfo).port;
  const faults = new FaultPlan();
  const counter = { received: 0 };
  const proxy = createServer((req, res) => {
    handle(req, res, faults, backendPort, counter, account).catch((error: unknown) => {
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

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  faults: FaultPlan,
  backendPort: number,
  counter: { received: number },
  account: SesAccount,
): Promise<void> {
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
