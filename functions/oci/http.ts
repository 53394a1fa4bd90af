import type { Context } from '@fnproject/fdk';
import { errorToHttp, type HttpAnswer } from '../../core/http-api.ts';
import { routeHttpRequest } from '../../core/http-routes.ts';
import type { SendOutcome } from '../../core/send-report.ts';
import { coldStart, deadlineOf } from './config.ts';
import { log, observeSend } from './log.ts';
import { sendQueueEnqueuer } from './queues.ts';

const enqueue = sendQueueEnqueuer();

/**
 * An API Gateway request (Fn's `Fn-Http-*` headers): `POST /v1/send` and `GET /healthz`, the API of `npm start`,
 * after the deployment's path prefix (`MAILROUTE_HTTP_PATH_PREFIX`). `?mode=enqueue`, `Prefer: respond-async` or
 * `MAILROUTE_HTTP_MODE=enqueue` put the message on the send queue (202). The status goes out as `Fn-Http-Status`.
 */
export async function handleHttp(body: string, context: Context): Promise<unknown> {
  const gateway = context.httpGateway;
  const url = new URL(gateway.requestURL ?? '/', 'http://gateway');
  const prefix = (process.env.MAILROUTE_HTTP_PATH_PREFIX ?? '').replace(/\/+$/, '');
  const path = prefix && url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : url.pathname;
  const headers = Object.fromEntries(Object.entries(gateway.headers).map(([k, v]) => [k.toLowerCase(), v[0]]));
  let answer: HttpAnswer;
  try {
    answer = await routeHttpRequest(
      await coldStart(),
      { method: gateway.method ?? 'GET', path, body, headers, query: Object.fromEntries(url.searchParams) },
      {
        defaultMode: process.env.MAILROUTE_HTTP_MODE === 'enqueue' ? 'enqueue' : 'send',
        enqueue,
        send: { deadline: deadlineOf(context) },
      },
    );
    observeSend(answer.body as SendOutcome, { trigger: 'http' });
  } catch (error) {
    // A cold start that failed (configuration, Vault) or a bug: answered, logged with its JSON form or stack.
    log.error('request failed', { error: error instanceof Error ? String(error.stack) : String(error) });
    answer = errorToHttp(error);
  }
  gateway.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) gateway.setResponseHeader(name, value);
  context.responseContentType = 'application/json';
  return answer.body;
}
