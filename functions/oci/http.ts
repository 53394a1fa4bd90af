import type { Context, HTTPGatewayContext } from '@fnproject/fdk';
import { encodeAnswer, isJsonContentType } from '../../core/runtime/http-api.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { fnEnd, mailer } from './config.ts';
import { log } from './log.ts';
import { sendQueueEnqueuer } from './queues.ts';

const enqueue = sendQueueEnqueuer();

/** The gateway's request as the core routes it: the path less `MAILROUTE_HTTP_PATH_PREFIX`, lower-case headers. */
function toHttpRequest(body: string, gateway: HTTPGatewayContext): HttpRequest {
  const url = new URL(gateway.requestURL ?? '/', 'http://gateway');
  const prefix = (process.env.MAILROUTE_HTTP_PATH_PREFIX ?? '').replace(/\/+$/, '');
  const path = prefix && url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : url.pathname;
  const headers = Object.fromEntries(Object.entries(gateway.headers).map(([k, v]) => [k.toLowerCase(), v[0]]));
  return { method: gateway.method ?? 'GET', path, body, headers, query: Object.fromEntries(url.searchParams) };
}

/**
 * An API Gateway request (Fn's `Fn-Http-*` headers): `POST /v1/send`, `GET /healthz` and `GET|POST
 * /v1/unsubscribe?token=…`, the API of `npm start` (core/runtime/invocation.ts); which paths reach the function,
 * and which of them need the gateway's JWT, is the deployment's routes (infra/oci: only the unsubscribe route is
 * anonymous). `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` put the message on the
 * send queue (202). The status goes out as `Fn-Http-Status`, the headers as `Fn-Http-H-*`, the body as JSON or,
 * a string of another content type (the unsubscribe page), as it is.
 */
export async function handleHttp(body: string, context: Context): Promise<unknown> {
  const gateway = context.httpGateway;
  const answer = await answerHttp(toHttpRequest(body, gateway), { mailer, log, end: fnEnd(context), enqueue });
  const encoded = encodeAnswer(answer);
  gateway.statusCode = encoded.status;
  for (const [name, value] of Object.entries(encoded.headers)) {
    if (name !== 'content-type') gateway.setResponseHeader(name, value);
  }
  context.responseContentType = encoded.contentType;
  // fdk writes a result as JSON.stringify(result) under a JSON content type, and as it is under any other.
  return isJsonContentType(encoded.contentType) ? answer.body : encoded.body;
}
