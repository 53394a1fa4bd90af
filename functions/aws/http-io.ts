import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpAnswer } from '../../core/runtime/http-api.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';

/** Whether a Lambda event is an HTTP API (payload 2.0) or function URL request. */
export const isHttpEvent = (event: unknown): event is APIGatewayProxyEventV2 =>
  typeof (event as { requestContext?: { http?: unknown } } | null)?.requestContext?.http === 'object';

/** An HTTP API (payload 2.0) or function URL event as the core routes it. */
export function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const { stage, http } = event.requestContext;
  // A named API Gateway stage prefixes the raw path; `$default` (and a function URL) does not.
  const named = stage && stage !== '$default';
  const path = named ? event.rawPath.replace(new RegExp(`^/${stage}(?=/)`), '') : event.rawPath;
  const body = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: http.method, path, body, headers, query: event.queryStringParameters };
}

export const toResult = (answer: HttpAnswer): APIGatewayProxyStructuredResultV2 => ({
  statusCode: answer.status,
  headers: { 'content-type': 'application/json', ...answer.headers },
  body: JSON.stringify(answer.body),
});

/**
 * The events function answers `/v1/events/{source}` only: whatever else the HTTP API serves (`/v1/send` above all)
 * must not be reachable through its URL, which may be public for SNS. Undefined for an events path.
 */
export const outsideEvents = (request: HttpRequest): HttpAnswer | undefined =>
  request.path.startsWith('/v1/events/')
    ? undefined
    : { status: 404, headers: {}, body: { error: { code: 'NOT_FOUND', message: `no route ${request.path} here` } } };
