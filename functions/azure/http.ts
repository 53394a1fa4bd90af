import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { errorToHttp } from '../../core/http-api.ts';
import { routeHttpRequest } from '../../core/http-routes.ts';
import type { SendOutcome } from '../../core/send-report.ts';
import { HTTP_ROUTES } from './bindings.ts';
import { mailerOnce, sendDeadline } from './config.ts';
import { fromAzureRequest, HTTP_ANSWER_LIMIT_MS, toAzureResponse } from './http-io.ts';
import { logFailure, logSend } from './log.ts';
import { enqueueToSendQueue } from './storage.ts';

/**
 * `POST /v1/send` and `GET /healthz`, the API of `npm start`. A send is done now (200 with the result), or with
 * `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` checked (400 with field paths),
 * put base64-encoded on the send queue and answered 202 with the queue message id. An error outside the
 * project's classes is logged and answered 500 INTERNAL, as `npm start` does.
 */
export async function httpApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const startedAt = Date.now();
  try {
    const answer = await routeHttpRequest(await mailerOnce(), await fromAzureRequest(request), {
      defaultMode: process.env.MAILROUTE_HTTP_MODE === 'enqueue' ? 'enqueue' : 'send',
      enqueue: (text) => enqueueToSendQueue(text),
      send: { deadline: sendDeadline(startedAt, process.env, HTTP_ANSWER_LIMIT_MS) },
    });
    logSend(context, answer.body as SendOutcome, { trigger: 'http' });
    return toAzureResponse(answer);
  } catch (error) {
    logFailure(context, error);
    return toAzureResponse(errorToHttp(error));
  }
}

// authLevel 'function' on both routes (bindings.ts); registered only inside the Functions host.
for (const [name, binding] of Object.entries(HTTP_ROUTES)) {
  app.http(name, { ...binding, methods: [...binding.methods], handler: httpApi });
}
