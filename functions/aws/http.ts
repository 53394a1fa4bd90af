import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { answerHttp } from '../../core/runtime/invocation.ts';
import { endOf, mailer } from './config.ts';
import { toHttpRequest, toResult } from './http-io.ts';
import { lambda, log } from './log.ts';
import { enqueueTo } from './sqs.ts';

const enqueue = enqueueTo(process.env.MAILROUTE_QUEUE_URL);
/** Callers are authenticated by IAM (SigV4 on the function URL), so events need no `events.webhookSecret`. */
const events = { authenticated: true };

/**
 * API Gateway HTTP API (payload 2.0) and function URL: `POST /v1/send`, `GET /healthz`, `POST /v1/events/{source}`,
 * the API of `npm start`. `?mode=enqueue`, `Prefer: respond-async` or `MAILROUTE_HTTP_MODE=enqueue` put the message
 * on the send queue through the SQS producer (202 with the SQS message id) instead of sending now. Callers are
 * authorized by IAM (AWS_IAM on the route or the function URL), configured in serverless.yml; SNS envelopes are
 * verified by their signature all the same.
 */
export const handler = lambda<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(async (event, context) =>
  toResult(await answerHttp(toHttpRequest(event), { mailer, log, end: endOf(context), enqueue, events })),
);
