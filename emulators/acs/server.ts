import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody, sleep } from '../common/faults.ts';
import { authority, closeServer, listen } from '../common/http.ts';
import { checkAcsAuth } from './auth.ts';
import { type AcsAnswer, acsError, acsJson, defaultAcsErrorCode, deniedError, writeAnswer } from './errors.ts';
import { DEFAULT_REPEATABILITY_WINDOW_MS, RepeatabilityTracker } from './repeatability.ts';
import { acceptSend, type SendContext } from './send.ts';
import { AcsStore, OutcomePlan, type OutcomeRule } from './store.ts';
import { supportedApiVersions } from './validate.ts';

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
  /** How long a Repeatability-Request-Id is tracked from its first-sent time: 5 minutes, as documented. */
  repeatabilityWindowMs?: number;
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
  /** Send requests (`POST /emails:send`) whose body was fully read, answered or not: "the service has it". */
  received(): number;
  /** Forgets stored emails, operations, faults, outcome rules, tracked repeatable requests and the count. */
  reset(): void;
  close(): Promise<void>;
}

interface Context extends SendContext {
  options: Required<Omit<AcsEmulatorOptions, 'host' | 'port'>>;
  faults: FaultPlan;
  received: number;
}

/**
 * Starts an Azure Communication Services Email emulator on loopback that the unmodified SDK talks to.
 * @example
 * const acs = await startAcsEmulator();
 * const client = new EmailClient(acs.connectionString, { allowInsecureConnection: true });
 */
export async function startAcsEmulator(options: AcsEmulatorOptions = {}): Promise<AcsEmulator> {
  const repeatabilityWindowMs = options.repeatabilityWindowMs ?? DEFAULT_REPEATABILITY_WINDOW_MS;
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
      repeatabilityWindowMs,
    },
    store: new AcsStore(),
    faults: new FaultPlan(),
    outcomes: new OutcomePlan(),
    repeatability: new RepeatabilityTracker(repeatabilityWindowMs),
    received: 0,
  };
  const server = createServer((req, res) => {
    handle(context, req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        writeAnswer(req, res, acsError(500, { code: 'InternalServerError', message: String(error) }));
      }
    });
  });
  const host = options.host ?? '127.0.0.1';
  const url = `http://${authority(host, await listen(server, options.port, host))}`;
  const { accessKey } = context.options;
  return {
    url,
    endpoint: `${url}/`,
    connectionString: `endpoint=${url}/;accesskey=${accessKey}`,
    accessKey,
    store: context.store,
    faults: context.faults,
    outcomes: context.outcomes,
    received: () => context.received,
    reset: () => reset(context),
    close: () => closeServer(server),
  };
}

function reset(context: Context): void {
  context.store.clear();
  context.faults.clear();
  context.outcomes.clear();
  context.repeatability.clear();
  context.received = 0;
}

async function handle(context: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const body = await readBody(req);
  if (url.pathname.startsWith('/_emulator/')) return writeAnswer(req, res, control(context, req, url.pathname, body));
  if (req.method === 'POST' && url.pathname === '/emails:send') context.received += 1;

  const fault = context.faults.take(req.url ?? '/');
  // hang: the request was read (and counted) but is never worked on nor answered, like a service gone quiet.
  if (fault && !fault.dropAfter && (fault.drop || fault.hang || fault.status)) {
    if (await playLatencyAndDrop(fault, req, res)) return;
    const code = fault.errorCode ?? defaultAcsErrorCode(fault.status!);
    const error = { code, message: fault.message ?? `Injected fault: ${code}.` };
    return writeAnswer(req, res, acsError(fault.status!, error, { retryAfter: fault.retryAfter }));
  }
  // The latency is the service working on a request it has: played once, inside the processing.
  let played: Promise<void> | undefined;
  const processing = () => (played ??= fault?.latencyMs ? sleep(fault.latencyMs) : Promise.resolve());
  const answer = await respond(context, req, url, body, processing);
  await processing();
  if (fault?.dropAfter) {
    // Done, then the connection drops before the answer: the client cannot tell this from a lost request.
    req.socket.destroy();
    res.destroy();
    return;
  }
  writeAnswer(req, res, answer);
}

async function respond(
  context: Context,
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  processing: () => Promise<void>,
): Promise<AcsAnswer> {
  if (body.length > context.options.maxRequestBytes) {
    const message = `The request is ${body.length} bytes, more than ${context.options.maxRequestBytes}.`;
    return acsError(413, { code: 'RequestEntityTooLarge', message });
  }
  // The service answers every authentication failure alike, so the reason is not revealed to the client.
  if (checkAcsAuth(req, body, context.options)) return acsError(401, deniedError);

  const operationMatch = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
  const route = req.method === 'POST' && url.pathname === '/emails:send' ? 'send' : operationMatch ? 'poll' : undefined;
  if (!route || (route === 'poll' && req.method !== 'GET')) {
    return acsError(404, { code: 'NotFound', message: `No route for ${req.method} ${url.pathname}.` });
  }
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    const message = 'The api-version query parameter (?api-version=) is required for all requests.';
    return acsError(400, { code: 'MissingApiVersionParameter', message });
  }
  if (!(supportedApiVersions as readonly string[]).includes(apiVersion)) {
    const message = `The HTTP resource that matches the request URI '${url.pathname}' does not support the API version '${apiVersion}'.`;
    return acsError(400, { code: 'UnsupportedApiVersion', message });
  }
  if (route === 'send') return acceptSend(context, req, body, apiVersion, processing);
  await processing();
  return poll(context, decodeURIComponent(operationMatch![1]!));
}

function poll(context: Context, operationId: string): AcsAnswer {
  const result = context.store.poll(operationId);
  if (!result) return acsError(404, { code: 'NotFound', message: `Operation ${operationId} not found.` });
  const terminal = result.status !== 'NotStarted' && result.status !== 'Running';
  // Per the swagger, retry-after is present only while the status is non-terminal.
  return acsJson(200, result, terminal ? {} : { 'retry-after': String(context.options.retryAfterSeconds) });
}

function control(context: Context, req: IncomingMessage, path: string, body: Buffer): AcsAnswer {
  const key = `${req.method} ${path}`;
  const json = () => (body.length ? JSON.parse(body.toString('utf8')) : {});
  try {
    if (key === 'GET /_emulator/store') return acsJson(200, { emails: context.store.emails });
    if (key === 'GET /_emulator/received') return acsJson(200, { received: context.received });
    if (key === 'POST /_emulator/reset') reset(context);
    else if (key === 'POST /_emulator/faults') context.faults.add(json() as Fault);
    else if (key === 'DELETE /_emulator/faults') context.faults.clear();
    else if (key === 'POST /_emulator/outcomes') context.outcomes.add(json() as OutcomeRule);
    else if (key === 'DELETE /_emulator/outcomes') context.outcomes.clear();
    else return acsJson(404, { message: `unknown control path ${key}` });
  } catch (error) {
    return acsJson(400, { message: String(error) });
  }
  return { status: 204, headers: {}, body: undefined };
}
