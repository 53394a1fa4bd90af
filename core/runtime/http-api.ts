import { isMailrouteError, type MailrouteError } from '../errors.ts';

/** A platform-neutral HTTP answer: the local server and every cloud's HTTP handler write it out as is. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const STATUS_BY_CODE: Record<string, number> = {
  INVALID_MESSAGE: 400,
  MESSAGE_TOO_LARGE: 413,
  UNSUPPORTED_FEATURE: 422,
  RECIPIENT_REJECTED: 422,
  CONTENT_REJECTED: 422,
  THROTTLED: 429,
  AUTHENTICATION: 502,
  AMBIGUOUS: 502,
  CONFIGURATION: 500,
  PROVIDER_UNAVAILABLE: 503,
  TRANSIENT: 503,
  ALL_PROVIDERS_FAILED: 503,
  IDEMPOTENCY_CONFLICT: 409,
  IN_PROGRESS: 409,
  DEADLINE_EXCEEDED: 503,
  STATE_STORE: 503,
  SUPPRESSED: 422,
  SENDER_NOT_ALLOWED: 403,
  EVENT_REJECTED: 400,
};

/**
 * The HTTP status and body for an error: `{ ok: false, error }`, the same shape as a success's `{ ok: true, ... }`,
 * the error being its JSON form, which holds no secret.
 */
export function errorToHttp(error: unknown): HttpAnswer {
  if (!isMailrouteError(error)) {
    return {
      status: 500,
      headers: {},
      body: { ok: false, error: { name: 'Error', code: 'INTERNAL', message: 'internal error' } },
    };
  }
  const headers: Record<string, string> = {};
  const retryAfterMs = (error as MailrouteError & { retryAfterMs?: number }).retryAfterMs;
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
  const status = (error as MailrouteError & { status?: number }).status ?? STATUS_BY_CODE[error.code] ?? 500;
  return { status, headers, body: { ok: false, error: error.toJSON() } };
}

/** An answer as a writer puts it on the wire: its headers (`content-type` among them) and its body as text. */
export interface EncodedAnswer {
  status: number;
  /** The answer's headers, `content-type` set once (lower-case), whatever case the answer gave it in. */
  headers: Record<string, string>;
  body: string;
  contentType: string;
}

/** Whether a content type is JSON (`application/json`, `application/problem+json`, with or without parameters). */
export const isJsonContentType = (contentType: string): boolean =>
  /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(contentType);

/**
 * The bytes of an answer, for every writer (`npm start` and each cloud's HTTP handler): a string body whose
 * content type is not JSON (the unsubscribe page, `text/html`) as it is; anything else as JSON text, under its own
 * content type or `application/json`.
 */
export function encodeAnswer(answer: HttpAnswer): EncodedAnswer {
  const headers: Record<string, string> = {};
  let given: string | undefined;
  for (const [name, value] of Object.entries(answer.headers)) {
    if (name.toLowerCase() === 'content-type') given = value;
    else headers[name] = value;
  }
  const contentType = given ?? 'application/json';
  headers['content-type'] = contentType;
  const raw = typeof answer.body === 'string' && !isJsonContentType(contentType);
  const body = raw ? (answer.body as string) : (JSON.stringify(answer.body) ?? 'null');
  return { status: answer.status, headers, body, contentType };
}
