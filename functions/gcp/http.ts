import * as functions from '@google-cloud/functions-framework';
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

/** The framework's (Express) request as the neutral router takes it: the raw body as text, lower-case headers. */
function toHttpRequest(req: functions.Request): HttpRequest {
  const body = req.rawBody?.toString('utf8') ?? (typeof req.body === 'string' ? req.body : '');
  return { method: req.method, path: req.path, body, headers: strings(req.headers), query: strings(req.query) };
}

const enqueue = async (text: string) => (await sendTopic().enqueue(JSON.parse(text))).messageId;

/**
 * HTTP function (IAM-only: deployed with `--no-allow-unauthenticated`): `POST /v1/send`, `GET /healthz`, the API of
 * `npm start` (core/runtime/invocation.ts). `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue`
 * publish the checked message to `MAILROUTE_SEND_TOPIC` and answer 202 with the Pub/Sub message id instead.
 */
export async function handleHttp(req: functions.Request, res: functions.Response): Promise<void> {
  const answer = await answerHttp(toHttpRequest(req), { mailer, log, end: functionEnd(), enqueue });
  res.status(answer.status).set({ 'content-type': 'application/json', ...answer.headers });
  res.send(JSON.stringify(answer.body));
}

functions.http('mailrouteHttp', handleHttp);
