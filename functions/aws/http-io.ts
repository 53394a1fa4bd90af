import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { UNSUBSCRIBE_PATH } from '../../core/events/unsubscribe.ts';
import { encodeAnswer, type HttpAnswer } from '../../core/runtime/http-api.ts';
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

/** JSON, or a string body of another content type (the unsubscribe page) as it is. */
export const toResult = (answer: HttpAnswer): APIGatewayProxyStructuredResultV2 => {
  const { status, headers, body } = encodeAnswer(answer);
  return { statusCode: status, headers, body };
};

/**
 * The events function answers `/v1/events/{source}` and the one-click unsubscribe links (`/v1/unsubscribe`, whose
 * signed token is the credential) only: whatever else the HTTP API serves (`/v1/send` above all) must not be
 * reachable through its URL, which may be public (for SNS, for the links). Undefined for those two paths.
 */
export const outsideEvents = (request: HttpRequest): HttpAnswer | undefined =>
  request.path.startsWith('/v1/events/') || request.path === UNSUBSCRIBE_PATH
    ? undefined
    : {
        status: 404,
        headers: {},
        body: { ok: false, error: { code: 'NOT_FOUND', message: `no route ${request.path} here` } },
      };
