import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { HTTP_ROUTES } from './bindings.ts';
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
  return toAzureResponse(await answerHttp(await fromAzureRequest(request), run));
}

// authLevel 'function' on every route (bindings.ts); registered only inside the Functions host.
for (const [name, binding] of Object.entries(HTTP_ROUTES)) {
  app.http(name, { ...binding, methods: [...binding.methods], handler: httpApi });
}
