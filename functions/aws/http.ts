import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpAnswer } from '../../core/runtime/http-api.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { endOf, mailer } from './config.ts';
import { lambda, log } from './log.ts';
import { enqueueTo } from './sqs.ts';

const enqueue = enqueueTo(process.env.MAILROUTE_QUEUE_URL);

/** An HTTP API (payload 2.0) or function URL event as the core routes it. */
function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const { stage, http } = event.requestContext;
  // A named API Gateway stage prefixes the raw path; `$default` (and a function URL) does not.
  const named = stage && stage !== '$default';
  const path = named ? event.rawPath.replace(new RegExp(`^/${stage}(?=/)`), '') : event.rawPath;
  const body = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: http.method, path, body, headers, query: event.queryStringParameters };
}

const toResult = (answer: HttpAnswer): APIGatewayProxyStructuredResultV2 => ({
  statusCode: answer.status,
  headers: { 'content-type': 'application/json', ...answer.headers },
  body: JSON.stringify(answer.body),
});

/**
 * API Gateway HTTP API (payload 2.0) and function URL: `POST /v1/send`, `GET /healthz`, the API of `npm start`.
 * `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` put the message on the send queue
 * through the SQS producer (202 with the SQS message id) instead of sending now. Callers are authorized by IAM
 * (AWS_IAM on the route or the function URL), configured in serverless.yml.
 */
export const handler = lambda<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(async (event, context) =>
  toResult(await answerHttp(toHttpRequest(event), { mailer, log, end: endOf(context), enqueue })),
);
