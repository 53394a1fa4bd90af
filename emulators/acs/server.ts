import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { checkAcsAuth } from './auth.ts';
import { defaultAcsErrorCode, deniedError, sendAcsError, sendJson } from './errors.ts';
import { AcsStore, OutcomePlan, type OutcomeRule } from './store.ts';
import { supportedApiVersions, validateEmailMessage } from './validate.ts';

export interface AcsEmulatorOptions {
  host?: string;
  port?: number;
  /** Resource access key, base64; a random 64-byte key by default, like a real resource's. */
  accessKey?: string;
  /** Bearer tokens accepted as Entra ID authentication. */
  acceptedTokens?: string[];
  /** Polls answered `Running` before the terminal status (default 1). */
  runningPolls?: number;
  /** Polls answered `NotStarted` before the Running ones (default 0). */
  notStartedPolls?: number;
  /** `retry-after` on the 202 and on non-terminal polls. The service sends tens of seconds; 0 keeps tests fast. */
  retryAfterSeconds?: number;
  /** Request size limit; 10 MB is documented, the 413 answer is unverified. */
  maxRequestBytes?: number;
  maxRecipients?: number;
  maxClockSkewMs?: number;
}

export interface AcsEmulator {
  /** `http://host:port`, for raw requests and the `/_emulator/*` control paths. */
  url: string;
  /** The resource endpoint as a connection string names it, with the trailing slash. */
  endpoint: string;
  connectionString: string;
  accessKey: string;
  store: AcsStore;
  faults: FaultPlan;
  outcomes: OutcomePlan;
  /** Forgets stored emails, operations, faults and outcome rules. */
  reset(): void;
  close(): Promise<void>;
}

interface Context {
  options: Required<Omit<AcsEmulatorOptions, 'host' | 'port'>>;
  store: AcsStore;
  faults: FaultPlan;
  outcomes: OutcomePlan;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Starts an Azure Communication Services Email emulator on loopback that the unmodified SDK talks to.
 * @example
 * const acs = await startAcsEmulator();
 * const client = new EmailClient(acs.connectionString, { allowInsecureConnection: true });
 */
export async function startAcsEmulator(options: AcsEmulatorOptions = {}): Promise<AcsEmulator> {
  const context: Context = {
    options: {
      accessKey: options.accessKey ?? randomBytes(64).toString('base64'),
      acceptedTokens: options.acceptedTokens ?? [],
      runningPolls: options.runningPolls ?? 1,
      notStartedPolls: options.notStartedPolls ?? 0,
      retryAfterSeconds: options.retryAfterSeconds ?? 0,
      maxRequestBytes: options.maxRequestBytes ?? 10 * 1024 * 1024,
      maxRecipients: options.maxRecipients ?? 50,
      maxClockSkewMs: options.maxClockSkewMs ?? 15 * 60 * 1000,
    },
    store: new AcsStore(),
    faults: new FaultPlan(),
    outcomes: new OutcomePlan(),
  };
  const server = createServer((req, res) => {
    handle(context, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendAcsError(res, 500, { code: 'InternalServerError', message: String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const { accessKey } = context.options;
  return {
    url,
    endpoint: `${url}/`,
    connectionString: `endpoint=${url}/;accesskey=${accessKey}`,
    accessKey,
    store: context.store,
    faults: context.faults,
    outcomes: context.outcomes,
    reset: () => reset(context),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function reset(context: Context): void {
  context.store.clear();
  context.faults.clear();
  context.outcomes.clear();
}

async function handle(context: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const body = await readBody(req);
  if (url.pathname.startsWith('/_emulator/')) return control(context, req, url.pathname, body, res);

  const fault = context.faults.take(req.url ?? '/');
  if (fault) {
    if (await playLatencyAndDrop(fault, req, res)) return;
    if (fault.status) {
      const code = fault.errorCode ?? defaultAcsErrorCode(fault.status);
      return sendAcsError(res, fault.status, { code, message: `Injected fault: ${code}.` }, fault.retryAfter);
    }
  }
  if (body.length > context.options.maxRequestBytes) {
    const message = `The request is ${body.length} bytes, more than ${context.options.maxRequestBytes}.`;
    return sendAcsError(res, 413, { code: 'RequestEntityTooLarge', message });
  }
  // The service answers every authentication failure alike, so the reason is not revealed to the client.
  if (checkAcsAuth(req, body, context.options)) return sendAcsError(res, 401, deniedError);

  const operationMatch = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
  const route = req.method === 'POST' && url.pathname === '/emails:send' ? 'send' : operationMatch ? 'poll' : undefined;
  if (!route || (route === 'poll' && req.method !== 'GET')) {
    return sendAcsError(res, 404, { code: 'NotFound', message: `No route for ${req.method} ${url.pathname}.` });
  }
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    const message = 'The api-version query parameter (?api-version=) is required for all requests.';
    return sendAcsError(res, 400, { code: 'MissingApiVersionParameter', message });
  }
  if (!(supportedApiVersions as readonly string[]).includes(apiVersion)) {
    const message = `The HTTP resource that matches the request URI '${url.pathname}' does not support the API version '${apiVersion}'.`;
    return sendAcsError(res, 400, { code: 'UnsupportedApiVersion', message });
  }
  if (route === 'poll') return poll(context, decodeURIComponent(operationMatch![1]!), res);
  return send(context, req, body, apiVersion, res);
}

function poll(context: Context, operationId: string, res: ServerResponse) {
  const result = context.store.poll(operationId);
  if (!result) return sendAcsError(res, 404, { code: 'NotFound', message: `Operation ${operationId} not found.` });
  const terminal = result.status !== 'NotStarted' && result.status !== 'Running';
  // Per the swagger, retry-after is present only while the status is non-terminal.
  sendJson(res, 200, result, terminal ? {} : { 'retry-after': String(context.options.retryAfterSeconds) });
}

function send(context: Context, req: IncomingMessage, body: Buffer, apiVersion: string, res: ServerResponse) {
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch {
    return sendAcsError(res, 400, { code: 'BadRequest', message: 'The request body is not valid JSON.' });
  }
  const headerId = req.headers['operation-id'];
  const operationIdHeader = typeof headerId === 'string' ? headerId : undefined;
  if (operationIdHeader !== undefined && !uuid.test(operationIdHeader)) {
    const error = { code: 'BadRequest', message: 'Operation-Id must be a UUID.', target: 'Operation-Id' };
    return sendAcsError(res, 400, error);
  }
  const operationLocation = (id: string) =>
    `http://${req.headers.host}/emails/operations/${encodeURIComponent(id)}?api-version=${apiVersion}`;
  const retryAfter = String(context.options.retryAfterSeconds);
  // Whether the service de-duplicates on Operation-Id is unverified. The spec makes it the operation's id,
  // so the emulator treats a repeat as the same operation: it answers with that operation's current state
  // and does not store the email again (even if the body differs), which is what a retrying client needs.
  if (operationIdHeader !== undefined && context.store.repeat(operationIdHeader)) {
    const existing = context.store.peek(operationIdHeader)!;
    const headers = { 'operation-location': operationLocation(existing.id), 'retry-after': retryAfter };
    return sendJson(res, 202, existing, headers);
  }
  const problem = validateEmailMessage(message, apiVersion, { maxRecipients: context.options.maxRecipients });
  if (problem) return sendAcsError(res, 400, problem);

  const email = message as Record<string, unknown> & { recipients: Record<string, { address: string }[] | undefined> };
  const { to = [], cc = [], bcc = [] } = email.recipients;
  const operationId = operationIdHeader ?? randomUUID();
  const outcome = context.outcomes.take([...to, ...cc, ...bcc].map((r) => r.address));
  const { notStartedPolls, runningPolls } = context.options;
  const stored = {
    operationId,
    apiVersion,
    body: email,
    headers: { ...req.headers },
    receivedAt: new Date(),
    repeats: 0,
  };
  context.store.accept(
    operationIdHeader ? { ...stored, operationIdHeader } : stored,
    { notStartedPolls, runningPolls },
    outcome,
  );
  const state = context.store.peek(operationId)!;
  sendJson(res, 202, state, { 'operation-location': operationLocation(operationId), 'retry-after': retryAfter });
}

function control(context: Context, req: IncomingMessage, path: string, body: Buffer, res: ServerResponse) {
  const key = `${req.method} ${path}`;
  const json = () => (body.length ? JSON.parse(body.toString('utf8')) : {});
  try {
    if (key === 'GET /_emulator/store') return sendJson(res, 200, { emails: context.store.emails });
    if (key === 'POST /_emulator/reset') reset(context);
    else if (key === 'POST /_emulator/faults') context.faults.add(json() as Fault);
    else if (key === 'DELETE /_emulator/faults') context.faults.clear();
    else if (key === 'POST /_emulator/outcomes') context.outcomes.add(json() as OutcomeRule);
    else if (key === 'DELETE /_emulator/outcomes') context.outcomes.clear();
    else return sendJson(res, 404, { message: `unknown control path ${key}` });
  } catch (error) {
    return sendJson(res, 400, { message: String(error) });
  }
  res.writeHead(204).end();
}
