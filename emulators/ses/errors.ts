import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * SendEmail's error shapes and their HTTP status, from the SES v2 model (botocore sesv2 2019-09-27
 * service-2.json), plus the 500 shape the model declares for the service and the generic 503 and signature
 * refusals of AWS front ends. Messages are typical wording, not verified against the live service.
 */
export const sesErrors: Record<string, { status: number; message: string }> = {
  TooManyRequestsException: { status: 429, message: 'Maximum sending rate exceeded.' },
  LimitExceededException: { status: 400, message: 'Daily message quota exceeded.' },
  AccountSuspendedException: { status: 400, message: 'Your account has been suspended.' },
  SendingPausedException: { status: 400, message: 'Sending is paused for this account.' },
  MessageRejected: { status: 400, message: 'Email address is not verified.' },
  MailFromDomainNotVerifiedException: { status: 400, message: 'The MAIL FROM domain is not verified.' },
  NotFoundException: { status: 404, message: 'The resource you attempted to access does not exist.' },
  BadRequestException: { status: 400, message: 'The input you provided is invalid.' },
  InternalServiceErrorException: { status: 500, message: 'An internal error occurred.' },
  // What AWS front ends answer for a request without (or with a malformed) signature, for any operation.
  MissingAuthenticationTokenException: { status: 403, message: 'Missing Authentication Token' },
  IncompleteSignatureException: {
    status: 403,
    message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
  },
  ServiceUnavailable: { status: 503, message: 'Service unavailable.' },
};

const codeByStatus: Record<number, string> = {
  400: 'BadRequestException',
  404: 'NotFoundException',
  429: 'TooManyRequestsException',
  500: 'InternalServiceErrorException',
  503: 'ServiceUnavailable',
};

/** The error code and status to play for a fault that names either or both. */
export function resolveSesError(status?: number, errorCode?: string): { status: number; code: string } {
  const code =
    errorCode ??
    codeByStatus[status ?? 400] ??
    (status && status >= 500 ? 'InternalServiceErrorException' : 'BadRequestException');
  return { status: status ?? sesErrors[code]?.status ?? 400, code };
}

/**
 * Writes a rest-json error: the SDK takes the code from `x-amzn-ErrorType` (text before any ':') and the
 * message from the body's `message`, and builds the exception class of that name.
 */
export function sendSesError(
  res: ServerResponse,
  status: number,
  code: string,
  retryAfter?: number,
  message?: string,
): void {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-amzn-errortype': code,
    'x-amzn-requestid': randomUUID(),
  };
  // Whether SES sends Retry-After is unverified; only sent when the fault asks for it.
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  res.writeHead(status, headers);
  res.end(JSON.stringify({ message: message ?? sesErrors[code]?.message ?? `Injected fault: ${code}.` }));
}
