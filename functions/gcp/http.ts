import * as functions from '@google-cloud/functions-framework';
import { UNSUBSCRIBE_PATH } from '../../core/events/unsubscribe.ts';
import { encodeAnswer, type HttpAnswer } from '../../core/runtime/http-api.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { functionEnd, mailer } from './config.ts';
import { log } from './log.ts';
import { sendTopic } from './topics.ts';

const firstOf = (value: unknown) => (Array.isArray(value) ? value[0] : value);
const strings = (record: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(record)
      .map(([k, v]) => [k, firstOf(v)])
      .filter(([, v]) => typeof v === 'string'),
  );

/**
 * The framework's (Express) request as the neutral router takes it: the raw body as text, lower-case headers. The
 * framework has read the body already (Cloud Run takes 32 MiB at most) and kept it twice, as bytes and parsed:
 * both are let go here, so that the send holds the text alone, which the router holds to `http.maxBodyBytes` and
 * the in-flight budget before parsing it, then lets go of in turn.
 */
function toHttpRequest(req: functions.Request): HttpRequest {
  const body = req.rawBody?.toString('utf8') ?? (typeof req.body === 'string' ? req.body : '');
  req.rawBody = undefined;
  req.body = undefined;
  return { method: req.method, path: req.path, body, headers: strings(req.headers), query: strings(req.query) };
}

/** JSON, or a string body of another content type (the unsubscribe page) as it is. */
function write(res: functions.Response, answer: HttpAnswer): void {
  const { status, headers, body } = encodeAnswer(answer);
  res.status(status).set(headers);
  res.send(body);
}

const enqueue = async (text: string) => (await (await sendTopic()).enqueue(JSON.parse(text))).messageId;

/**
 * HTTP function (IAM-only: deployed with `--no-allow-unauthenticated`): `POST /v1/send`, `GET /healthz`, the API of
 * `npm start` (core/runtime/invocation.ts). `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue`
 * publish the checked message to `MAILROUTE_SEND_TOPIC` and answer 202 with the Pub/Sub message id instead.
 */
export async function handleHttp(req: functions.Request, res: functions.Response): Promise<void> {
  write(res, await answerHttp(toHttpRequest(req), { mailer, log, end: functionEnd(), enqueue }));
}

/**
 * The public entry of the one-click unsubscribe links (deployed apart, with `--allow-unauthenticated`, only when
 * asked: infra/gcp `public_unsubscribe`): `GET|POST /v1/unsubscribe?token=…`, whose signed token is the
 * credential. Every other path is 404 here, so the API of `mailrouteHttp` stays IAM-only; it neither enqueues
 * nor takes events in.
 */
export async function handleUnsubscribe(req: functions.Request, res: functions.Response): Promise<void> {
  const request = toHttpRequest(req);
  if (request.path !== UNSUBSCRIBE_PATH) {
    const error = { code: 'NOT_FOUND', message: `no route ${request.path} here` };
    write(res, { status: 404, headers: {}, body: { ok: false, error } });
    return;
  }
  write(res, await answerHttp(request, { mailer, log, end: functionEnd() }));
}

functions.http('mailrouteHttp', handleHttp);
functions.http('mailrouteUnsubscribe', handleUnsubscribe);
