import { httpLimits, httpSettings } from '../config/http-config.ts';
import { ConfigurationError, isMailrouteError } from '../errors.ts';
import { EVENT_SOURCES } from '../events/event.ts';
import { type IntakeOptions, ingestEvents, isEventSource } from '../events/intake.ts';
import { answerUnsubscribe, UNSUBSCRIBE_PATH } from '../events/unsubscribe.ts';
import type { Mailer, SendOptions } from '../mailer.ts';
import { errorToHttp, type HttpAnswer } from './http-api.ts';
import { bodyTooLarge, inflightBudget, type Reservation, serverBusy } from './http-body.ts';
import { guardHttpRequest, type HttpGuardOptions, withCors } from './http-guard.ts';
import { checkPayload, parsePayload } from './send-payload.ts';

/** A request as any platform's HTTP trigger gives it, the body already decoded to text. */
export interface HttpRequest {
  method: string;
  path: string;
  /**
   * The body's text. A send now takes it out of the request (leaves `''`) once parsed, so that the text of a large
   * message is not held beside the message while it is sent, by this request or by any caller still holding it.
   */
  body: string;
  /** Lower-case names. */
  headers?: Record<string, string | undefined>;
  query?: Record<string, string | undefined>;
}

export type SendMode = 'send' | 'enqueue';

export interface HttpRouteOptions {
  /** Puts the (checked) message text on the send queue and returns the queue's message id. */
  enqueue?: (body: string) => Promise<string>;
  /** The mode when the request asks for none; default `send`. */
  defaultMode?: SendMode;
  /** For a send now: the function's deadline. */
  send?: SendOptions;
  /**
   * For `POST /v1/events/{source}`. `authenticated`: the platform already authenticated the caller (an Azure
   * function key, IAM), so no `events.webhookSecret` is asked for; SNS envelopes are verified by signature anyway.
   */
  events?: IntakeOptions & { authenticated?: boolean };
  /**
   * What the server says about the request (core/runtime/http-guard.ts): `local` for `serve` (the Host is checked),
   * its API token. Public hosts and CORS origins not given are the configuration's `http` block and
   * `MAILROUTE_PUBLIC_HOSTS` / `MAILROUTE_CORS_ORIGINS`. Without it, a cloud function's rules: the content type and
   * the Origin are checked, the Host is the platform's, the platform authenticates the caller.
   */
  guard?: HttpGuardOptions;
  /**
   * The caller has already held the body to the limits (`serve`: its Content-Length refused or counted as it
   * arrived, its bytes reserved in the in-flight budget before reading). Without it the body, already read by the
   * platform, is measured and reserved here, before it is parsed.
   */
  bodyAdmitted?: boolean;
}

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers,
  body,
});

/** An error answer: `{ ok: false, error }`, as `errorToHttp` gives for the project's errors. */
const refuse = (status: number, error: unknown, headers: Record<string, string> = {}): HttpAnswer =>
  answer(status, { ok: false, error }, headers);

/**
 * The HTTP API every cloud function serves, the same as `npm start`: `GET /healthz` and `POST /v1/send`.
 * A send is done now, or (with `?mode=enqueue`, `Prefer: respond-async`, or `defaultMode: 'enqueue'`) checked,
 * put on the send queue and answered 202 with the queue's message id. Every request passes the guard first
 * (core/runtime/http-guard.ts: Host, Origin, token, content type); a configured CORS origin gets its headers.
 */
export async function routeHttpRequest(
  mailer: Mailer,
  request: HttpRequest,
  options: HttpRouteOptions = {},
): Promise<HttpAnswer> {
  const guard = { ...httpSettings(mailer.config), ...options.guard };
  // What the answer's CORS headers need, apart from the request: the request's body may be taken while routing.
  const asked = {
    method: request.method,
    path: request.path,
    ...(request.headers ? { headers: request.headers } : {}),
  };
  const refused = guardHttpRequest(asked, guard);
  if (refused) return withCors(refused, asked, guard);
  let reservation: Reservation | undefined;
  if (!options.bodyAdmitted && request.body) {
    // The platform read the body (AWS's 6 MB, Google's 32 MiB, OCI's 6 MB, Azure's 100 MB at most): it is held
    // to the limit and reserved before it is parsed, sent and composed, which hold it several times over.
    const limits = httpLimits(mailer.config);
    const size = Buffer.byteLength(request.body, 'utf8');
    if (size > limits.maxBodyBytes) return withCors(bodyTooLarge(limits, size, 'body'), asked, guard);
    const budget = inflightBudget(limits.maxInflightBytes);
    reservation = budget.reserve(size);
    if (!reservation) return withCors(serverBusy(limits, budget, size), asked, guard);
  }
  try {
    return withCors(await route(mailer, request, options), asked, guard);
  } finally {
    reservation?.release();
  }
}

/** The body's text, taken out of the request (see `HttpRequest.body`). */
function takeBody(request: HttpRequest): string {
  const body = request.body;
  request.body = '';
  return body;
}

async function route(mailer: Mailer, request: HttpRequest, options: HttpRouteOptions): Promise<HttpAnswer> {
  const { method, path } = request;
  if (path === '/healthz' && method === 'GET') return answer(200, { ok: true, providers: mailer.names() });
  if (path.startsWith('/v1/events/')) return eventsRoute(mailer, request, options.events);
  if (path === UNSUBSCRIBE_PATH) return unsubscribeRoute(mailer, request);
  if (path !== '/v1/send') return refuse(404, { code: 'NOT_FOUND', message: `no route ${path}` });
  if (method !== 'POST') {
    return refuse(405, { code: 'METHOD_NOT_ALLOWED', message: 'use POST' }, { allow: 'POST' });
  }
  const asked = request.query?.mode;
  if (asked !== undefined && asked !== 'send' && asked !== 'enqueue') {
    return refuse(400, { code: 'INVALID_MODE', message: `mode must be send or enqueue, not "${asked}"` });
  }
  const preferAsync = /(^|[\s,;])respond-async($|[\s,;=])/i.test(request.headers?.prefer ?? '');
  const mode = asked ?? (preferAsync ? 'enqueue' : (options.defaultMode ?? 'send'));
  if (mode === 'send') return sendNow(mailer, request, options.send);

  const checked = checkPayload(request.body);
  if (!checked.ok) return refuse(400, checked.error);
  try {
    // What the consumer would refuse at once is refused now, not accepted and dead-lettered later: the provider
    // options against the registry, the sender against allowedSenders, the route a message names.
    mailer.explain(checked.input);
    if (!options.enqueue)
      throw new ConfigurationError('enqueue mode is not available: this function has no send queue');
    const queueMessageId = await options.enqueue(request.body);
    return answer(
      202,
      { ok: true, queued: true, queueMessageId },
      preferAsync ? { 'preference-applied': 'respond-async' } : {},
    );
  } catch (error) {
    if (isMailrouteError(error)) return errorToHttp(error);
    throw error;
  }
}

/**
 * 200 with the result, or the error's status and JSON; an error outside the project's classes (a bug) is thrown
 * rather than turned into an anonymous 500, so the caller logs it before answering.
 */
async function sendNow(mailer: Mailer, request: HttpRequest, options: SendOptions = {}): Promise<HttpAnswer> {
  const parsed = parsePayload(takeBody(request));
  if (!parsed.ok) return refuse(400, parsed.error);
  try {
    return answer(200, { ok: true, result: await mailer.send(parsed.input, options) });
  } catch (error) {
    if (isMailrouteError(error)) return errorToHttp(error);
    throw error;
  }
}

/**
 * `POST /v1/events/{ses|acs|oci|dsn}`: delivery events from each provider (SNS envelopes for SES, Event Grid
 * arrays for ACS, Connector Hub records for OCI, a DSN's `.eml` text). Answered 200 with the count applied, the
 * Event Grid handshake with its `validationResponse`, a refused sender 401 or 403 with nothing applied.
 */
async function eventsRoute(
  mailer: Mailer,
  request: HttpRequest,
  options: HttpRouteOptions['events'] = {},
): Promise<HttpAnswer> {
  const source = request.path.slice('/v1/events/'.length);
  if (!isEventSource(source)) {
    return refuse(404, {
      code: 'NOT_FOUND',
      message: `no event source "${source}" (have: ${EVENT_SOURCES.join(', ')})`,
    });
  }
  if (request.method === 'OPTIONS' && source === 'acs' && request.headers?.['webhook-request-origin']) {
    // The CloudEvents schema's abuse protection handshake (Event Grid sends it before delivering).
    return answer(200, {}, { 'webhook-allowed-origin': request.headers['webhook-request-origin'], allow: 'POST' });
  }
  if (request.method !== 'POST') {
    return refuse(405, { code: 'METHOD_NOT_ALLOWED', message: 'use POST' }, { allow: 'POST' });
  }
  try {
    const { authenticated, ...intake } = options;
    const result = await ingestEvents(
      mailer,
      source,
      {
        body: request.body,
        ...(request.headers ? { headers: request.headers } : {}),
        ...(request.query ? { query: request.query } : {}),
        ...(authenticated ? { authenticated } : {}),
      },
      intake,
    );
    return answer(result.status, result.body);
  } catch (error) {
    if (isMailrouteError(error)) return errorToHttp(error);
    throw error;
  }
}

/**
 * `GET|POST /v1/unsubscribe?token=…`: the one-click unsubscribe links mailroute makes (core/events/unsubscribe.ts).
 * Reached by mailbox providers, so never behind the API's own authentication: the signed token is the credential.
 */
async function unsubscribeRoute(mailer: Mailer, request: HttpRequest): Promise<HttpAnswer> {
  try {
    return await answerUnsubscribe(mailer, request);
  } catch (error) {
    if (isMailrouteError(error)) return errorToHttp(error);
    throw error;
  }
}
