import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { HttpLimits } from '../../core/config/http-config.ts';
import { UNSUBSCRIBE_PATH } from '../../core/events/unsubscribe.ts';
import { errorToHttp } from '../../core/runtime/http-api.ts';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { HTTP_ROUTES, PUBLIC_HTTP_ROUTES } from './bindings.ts';
import { mailer } from './config.ts';
import { functionEnd, HTTP_ANSWER_LIMIT_MS, MARGIN_MS } from './host.ts';
import { fromAzureRequest, toAzureResponse } from './http-io.ts';
import { invocationLog } from './log.ts';
import { enqueueToSendQueue } from './queues.ts';

/**
 * The host checks the function key before the function runs (authLevel `function` or `admin`): such a caller needs
 * no `events.webhookSecret` as well. An `anonymous` route would leave the secret as the only gate.
 */
const events = { authenticated: HTTP_ROUTES['http-events'].authLevel !== ('anonymous' as string) };

/**
 * `POST /v1/send`, `GET /healthz` and `POST /v1/events/{source}`, the API of `npm start`
 * (core/runtime/invocation.ts). A send is done now (200 with the result), or with `?mode=enqueue`,
 * `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` checked (400 with field paths), put base64-encoded on the
 * send queue and answered 202 with the queue message id. The send deadline is `functionTimeout`, at most 230 s, less
 * the margin. An error outside the project's classes is logged and answered 500 INTERNAL, as `npm start` does.
 */
export async function httpApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const log = invocationLog(context);
  const end = functionEnd(HTTP_ANSWER_LIMIT_MS);
  const run = { mailer, log, end, marginMs: MARGIN_MS, enqueue: (text: string) => enqueueToSendQueue(text), events };
  const read = await readRequest(request, log);
  if ('refused' in read) return toAzureResponse(read.refused);
  return toAzureResponse(await answerHttp(read.request, run));
}

/**
 * The body limit of the configuration (`http.maxBodyBytes`, `MAILROUTE_HTTP_MAX_BODY_BYTES`): the instance's mailer
 * holds it. A mailer that cannot be built leaves the environment's limit (or the default), and `answerHttp` answers
 * its error.
 */
async function limits(): Promise<HttpLimits> {
  const config = await mailer().then(
    (built) => built.config,
    () => ({}),
  );
  // Imported here, not at the top: http-config.ts holds zod schemas, which load with the mailer, never at import.
  return (await import('../../core/config/http-config.ts')).httpLimits(config);
}

/** The request, its body read up to the limit; or the answer refusing it (413), or a wrong limit setting (500). */
async function readRequest(request: HttpRequest, log: ReturnType<typeof invocationLog>) {
  try {
    return await fromAzureRequest(request, await limits());
  } catch (error) {
    log.failure(error);
    return { refused: errorToHttp(error) };
  }
}

/**
 * `GET|POST /v1/unsubscribe?token=…`, the one anonymous route (bindings.ts `PUBLIC_HTTP_ROUTES`): the signed token
 * is the credential. Any other path is answered 404 here, whatever the host routed to it, so that no request
 * without a function key reaches `/v1/send` or the events; nor does this handler enqueue or take events in.
 */
export async function unsubscribeApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const log = invocationLog(context);
  const end = functionEnd(HTTP_ANSWER_LIMIT_MS);
  const read = await readRequest(request, log);
  if ('refused' in read) return toAzureResponse(read.refused);
  const neutral = read.request;
  if (neutral.path !== UNSUBSCRIBE_PATH) {
    const error = { code: 'NOT_FOUND', message: `no route ${neutral.path} here` };
    return toAzureResponse({ status: 404, headers: {}, body: { ok: false, error } });
  }
  return toAzureResponse(await answerHttp(neutral, { mailer, log, end, marginMs: MARGIN_MS }));
}

// authLevel 'function' on every route of HTTP_ROUTES, 'anonymous' on the unsubscribe route alone (bindings.ts);
// registered only inside the Functions host.
for (const [name, binding] of Object.entries(HTTP_ROUTES)) {
  app.http(name, { ...binding, methods: [...binding.methods], handler: httpApi });
}
for (const [name, binding] of Object.entries(PUBLIC_HTTP_ROUTES)) {
  app.http(name, { ...binding, methods: [...binding.methods], handler: unsubscribeApi });
}
