// The same classes as the other providers' error mappings import, on purpose: every API maps onto one taxonomy.
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  type ErrorOrigin,
  InvalidMessageError,
  type MailrouteError,
  MessageTooLargeError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';

/**
 * What the SDK rejects with: an OciError (statusCode, serviceCode, message) when the service answered, or,
 * when it did not (a dropped connection), a plain object `{ code, message: 'fetch failed', ... }` that is not
 * an Error at all. Both are read through this one shape.
 */
interface OciFailure {
  statusCode?: number;
  serviceCode?: string;
  message?: string;
  opcRequestId?: string | null;
}

/** 400 codes that are quotas (the tenancy's daily count, send rate or size), not faults of the message. */
const QUOTA_CODES = new Set(['LimitExceeded', 'QuotaExceeded']);
/** Codes that mean the credentials, the policy or the compartment are wrong: another provider may do better. */
const AUTH_CODES = new Set([
  'NotAuthenticated',
  'NotAuthorized',
  'NotAuthorizedOrNotFound',
  'NotAllowed',
  'SignUpRequired',
  'RelatedResourceNotAuthorizedOrNotFound',
]);

/**
 * Translates a failed submitEmail/submitRawEmail into the project's error classes.
 * `sent` is the encoded size and the declared limit, for a 413.
 */
export function mapOciError(
  error: unknown,
  origin: Required<ErrorOrigin>,
  sent: { size: number; limit: number },
): MailrouteError {
  const f = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as OciFailure;
  const status = typeof f.statusCode === 'number' && f.statusCode > 0 ? f.statusCode : undefined;
  const code = typeof f.serviceCode === 'string' ? f.serviceCode : undefined;
  const requestId = f.opcRequestId ? ` (opc-request-id ${f.opcRequestId})` : '';
  const text = `OCI Email Delivery ${status ?? 'network'}${code ? ` ${code}` : ''}: ${f.message ?? 'no answer'}${requestId}`;
  const options = { ...origin, cause: error, providerCode: code ?? status };

  if (status === undefined || status >= 500 || status === 409) return new TransientError(text, options);
  if (status === 429 || (code && QUOTA_CODES.has(code))) return new ThrottledError(text, options);
  if (status === 401 || status === 403 || (code && AUTH_CODES.has(code))) return new AuthenticationError(text, options);
  if (status === 413) return new MessageTooLargeError('the encoded message', sent.size, sent.limit, 'bytes', options);
  // A From address must be an approved sender in this region and compartment: configuration, not content.
  if (/approved sender/i.test(f.message ?? '')) {
    return new ConfigurationError(text, { ...options, issues: [{ path: 'compartmentId', message: f.message ?? '' }] });
  }
  if (status === 400) return new InvalidMessageError([{ path: '', message: text }], options);
  if (status === 404 || status === 405) {
    return new ConfigurationError(`${text} (check endpoint and region)`, { ...options, issues: [] });
  }
  return new TransientError(text, options);
}

/**
 * A request that went out whole and got no answer (a drop, a hang cut by the deadline): the service may have
 * taken it, and whether it de-duplicates on the messageId is unverified, so it is not sent again anywhere.
 */
export function lostAnswer(error: unknown, origin: ErrorOrigin, deadlinePassed: boolean): AmbiguousDeliveryError {
  const why = deadlinePassed ? 'no answer before the deadline' : 'the connection was lost';
  return new AmbiguousDeliveryError(
    `OCI Email Delivery: ${why} after the request was sent; it may have been delivered`,
    { ...origin, cause: error },
  );
}
