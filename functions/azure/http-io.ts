import type { HttpRequest as AzureHttpRequest, HttpResponseInit } from '@azure/functions';
import type { HttpLimits } from '../../core/config/http-config.ts';
import { encodeAnswer, type HttpAnswer } from '../../core/runtime/http-api.ts';
import {
  BodyCollector,
  badLength,
  bodyTooLarge,
  declaredLength,
  firstReservation,
  InflightBudget,
  type Reservation,
} from '../../core/runtime/http-body.ts';
import type { HttpRequest } from '../../core/runtime/http-routes.ts';

/**
 * The request as the core routes it, or the answer that refuses its body. host.json's `routePrefix` is "", so the
 * URL's path is the route itself; header names come lower-case from the fetch `Headers`. The body is held to
 * `limits.maxBodyBytes`: a larger Content-Length is refused (413) without reading it, and a body without one is
 * read only up to the limit. (The host has already taken the body, up to its own 100 MB; the in-flight budget is
 * applied by the router, before the body is parsed.)
 */
export async function fromAzureRequest(
  request: AzureHttpRequest,
  limits: HttpLimits,
): Promise<{ request: HttpRequest } | { refused: HttpAnswer }> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const declared = declaredLength(headers);
  if (Number.isNaN(declared)) return { refused: badLength(headers['content-length']) };
  if (declared !== undefined && declared > limits.maxBodyBytes) {
    return { refused: bodyTooLarge(limits, declared, 'content-length') };
  }
  let body = '';
  if (request.body) {
    // The router reserves the body in the budget; this only counts it against the limit as it is read.
    const unbounded = new InflightBudget(Infinity);
    const reservation = unbounded.reserve(firstReservation(limits, declared)) as Reservation;
    const collector = new BodyCollector({ limits, budget: unbounded, reservation, declared });
    const reader = request.body.getReader();
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      const refusal = collector.push(part.value);
      if (refusal) {
        await reader.cancel().catch(() => {});
        return { refused: refusal.answer };
      }
    }
    body = collector.text();
  }
  return {
    request: {
      method: request.method,
      path: new URL(request.url).pathname,
      body,
      headers,
      query: Object.fromEntries(request.query),
    },
  };
}

/** JSON, or a string body of another content type (the unsubscribe page) as it is. */
export const toAzureResponse = (answer: HttpAnswer): HttpResponseInit => {
  const { status, headers, body } = encodeAnswer(answer);
  return { status, headers, body };
};
