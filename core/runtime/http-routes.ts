import { ConfigurationError, isMailrouteError } from '../errors.ts';
import type { Mailer, SendOptions } from '../mailer.ts';
import { errorToHttp, type HttpAnswer } from './http-api.ts';
import { checkPayload, parsePayload } from './send-payload.ts';

/** A request as any platform's HTTP trigger gives it, the body already decoded to text. */
export interface HttpRequest {
  method: string;
  path: string;
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
}

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers,
  body,
});

/**
 * The HTTP API every cloud function serves, the same as `npm start`: `GET /healthz` and `POST /v1/send`.
 * A send is done now, or (with `?mode=enqueue`, `Prefer: respond-async`, or `defaultMode: 'enqueue'`) checked,
 * put on the send queue and answered 202 with the queue's message id.
 */
export async function routeHttpRequest(
  mailer: Mailer,
  request: HttpRequest,
  options: HttpRouteOptions = {},
): Promise<HttpAnswer> {
  const { method, path } = request;
  if (path === '/healthz' && method === 'GET') return answer(200, { ok: true, providers: mailer.names() });
  if (path !== '/v1/send') return answer(404, { error: { code: 'NOT_FOUND', message: `no route ${path}` } });
  if (method !== 'POST') {
    return answer(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST' } }, { allow: 'POST' });
  }
  const asked = request.query?.mode;
  if (asked !== undefined && asked !== 'send' && asked !== 'enqueue') {
    return answer(400, { error: { code: 'INVALID_MODE', message: `mode must be send or enqueue, not "${asked}"` } });
  }
  const preferAsync = /(^|[\s,;])respond-async($|[\s,;=])/i.test(request.headers?.prefer ?? '');
  const mode = asked ?? (preferAsync ? 'enqueue' : (options.defaultMode ?? 'send'));
  if (mode === 'send') return sendNow(mailer, request.body, options.send);

  const checked = checkPayload(request.body);
  if (!checked.ok) return answer(400, { error: checked.error });
  try {
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
async function sendNow(mailer: Mailer, body: string, options: SendOptions = {}): Promise<HttpAnswer> {
  const parsed = parsePayload(body);
  if (!parsed.ok) return answer(400, { error: parsed.error });
  try {
    return answer(200, { ok: true, result: await mailer.send(parsed.input, options) });
  } catch (error) {
    if (isMailrouteError(error)) return errorToHttp(error);
    throw error;
  }
}
