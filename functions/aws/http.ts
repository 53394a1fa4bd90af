import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorToHttp, type HttpAnswer } from '../../core/http-api.ts';
import { routeHttpRequest } from '../../core/http-routes.ts';
import type { SendOutcome } from '../../core/send-report.ts';
import { deadlineOf, type MailrouteContext, mailrouteRuntime } from './config.ts';
import { observeSend } from './observability.ts';
import { enqueue } from './sqs.ts';

const toResult = (answer: HttpAnswer): APIGatewayProxyStructuredResultV2 => ({
  statusCode: answer.status,
  headers: { 'content-type': 'application/json', ...answer.headers },
  body: JSON.stringify(answer.body),
});

const lowerCaseKeys = (headers: Record<string, string | undefined> = {}) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

/**
 * API Gateway HTTP API (payload 2.0) and function URL: `POST /v1/send`, `GET /healthz`, the API of `npm start`.
 * `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` put the message on the send queue
 * (202 with the SQS message id) instead of sending now. Callers are authorized by IAM (AWS_IAM on the route
 * or the function URL), configured in serverless.yml.
 */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, MailrouteContext>()
  .use(mailrouteRuntime((error) => toResult(errorToHttp(error))))
  .handler(async (event, context) => {
    const { stage, http } = event.requestContext;
    // A named API Gateway stage prefixes the raw path; `$default` (and a function URL) does not.
    const path =
      stage && stage !== '$default' ? event.rawPath.replace(new RegExp(`^/${stage}(?=/)`), '') : event.rawPath;
    const body = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    const answer = await routeHttpRequest(
      context.mailer,
      { method: http.method, path, body, headers: lowerCaseKeys(event.headers), query: event.queryStringParameters },
      {
        defaultMode: process.env.MAILROUTE_HTTP_MODE === 'enqueue' ? 'enqueue' : 'send',
        enqueue: (text) => enqueue(process.env.MAILROUTE_QUEUE_URL, text),
        send: { deadline: deadlineOf(context) },
      },
    );
    observeSend(answer.body as SendOutcome, { trigger: 'http' });
    return toResult(answer);
  });
