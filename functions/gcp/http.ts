import * as functions from '@google-cloud/functions-framework';
import { errorToHttp, type HttpAnswer } from '../../core/http-api.ts';
import { type HttpRequest, routeHttpRequest } from '../../core/http-routes.ts';
import type { SendOutcome } from '../../core/send-report.ts';
import { errorField, log, observeSend } from './log.ts';
import { deadlineOf, instanceMailer, sendTopic } from './runtime.ts';

const firstOf = (value: unknown) => (Array.isArray(value) ? value[0] : value);
const strings = (record: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(record)
      .map(([k, v]) => [k, firstOf(v)])
      .filter(([, v]) => typeof v === 'string'),
  );

/** The framework's (Express) request as the neutral router takes it: the raw body as text, lower-case headers. */
function toHttpRequest(req: functions.Request): HttpRequest {
  const body = req.rawBody?.toString('utf8') ?? (typeof req.body === 'string' ? req.body : '');
  return { method: req.method, path: req.path, body, headers: strings(req.headers), query: strings(req.query) };
}

/**
 * HTTP function (IAM-only: deployed with `--no-allow-unauthenticated`): `POST /v1/send`, `GET /healthz`, the API of
 * `npm start`. `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` publish the checked
 * message to `MAILROUTE_SEND_TOPIC` and answer 202 with the Pub/Sub message id instead of sending now.
 */
export async function handleHttp(req: functions.Request, res: functions.Response): Promise<void> {
  const started = Date.now();
  let answer: HttpAnswer;
  try {
    answer = await routeHttpRequest(await instanceMailer(), toHttpRequest(req), {
      defaultMode: process.env.MAILROUTE_HTTP_MODE === 'enqueue' ? 'enqueue' : 'send',
      enqueue: async (text) => (await sendTopic().enqueue(JSON.parse(text))).messageId,
      send: { deadline: deadlineOf(started) },
    });
    observeSend(answer.body as SendOutcome, { trigger: 'http' });
  } catch (error) {
    log('ERROR', 'request failed', { error: errorField(error) });
    answer = errorToHttp(error);
  }
  res.status(answer.status).set({ 'content-type': 'application/json', ...answer.headers });
  res.send(JSON.stringify(answer.body));
}

functions.http('mailrouteHttp', handleHttp);
