import type { HttpRequest as AzureHttpRequest, HttpResponseInit } from '@azure/functions';
import { encodeAnswer, type HttpAnswer } from '../../core/runtime/http-api.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';

/**
 * The request as the core routes it. host.json's `routePrefix` is "", so the URL's path is the route itself;
 * header names come lower-case from the fetch `Headers`.
 */
export async function fromAzureRequest(request: AzureHttpRequest): Promise<HttpRequest> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return {
    method: request.method,
    path: new URL(request.url).pathname,
    body: await request.text(),
    headers,
    query: Object.fromEntries(request.query),
  };
}

/** JSON, or a string body of another content type (the unsubscribe page) as it is. */
export const toAzureResponse = (answer: HttpAnswer): HttpResponseInit => {
  const { status, headers, body } = encodeAnswer(answer);
  return { status, headers, body };
};
