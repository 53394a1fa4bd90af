import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  type ErrorOrigin,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  ProviderUnavailableError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { NEVER_CONNECTED_CODES, parseRetryAfter } from '../../core/util/network.ts';
import { AWS_CREDENTIALS_REFUSED, type AwsSdkError } from '../aws-sdk-errors.ts';
import type { ConnectWatch } from '../http/connect-watch.ts';
import { unsentFailure } from '../http/unsent.ts';

const THROTTLED = new Set(['TooManyRequestsException', 'ThrottlingException', 'Throttling', 'LimitExceededException']);
// The account cannot send at all for now: nothing about this message, so another provider should take it.
const UNAVAILABLE = new Set(['SendingPausedException', 'AccountSuspendedException']);

/**
 * Translates an error of `@aws-sdk/client-sesv2` into the project's taxonomy.
 *
 * | SES answer | class |
 * | --- | --- |
 * | TooManyRequestsException, ThrottlingException, LimitExceededException (daily quota), any 429 | ThrottledError |
 * | SendingPausedException, AccountSuspendedException | ProviderUnavailableError |
 * | MessageRejected ("... not verified": the sandbox or an unverified identity) | AuthenticationError |
 * | MessageRejected (anything else: content, virus) | ContentRejectedError |
 * | MailFromDomainNotVerifiedException, signature/credential/access refusals, 401/403 | AuthenticationError |
 * | NotFoundException, 404 (configuration set or contact list), no credentials found | ConfigurationError |
 * | BadRequestException and other 4xx | InvalidMessageError |
 * | 5xx answers (InternalServiceErrorException, 500/502/503) | TransientError |
 * | 504, or the connection dropped or timed out (or the deadline passed) after it was open | AmbiguousDeliveryError |
 * | no connection within `connectTimeoutMs` (DNS, TCP, TLS) | ProviderUnavailableError |
 * | no connection at all otherwise (refused, DNS, unreachable, the deadline while connecting) | TransientError |
 * | raised in the client before sending (no status, no socket error code) | ConfigurationError |
 *
 * BadRequestException is the message's fault: the configuration (region, configuration set) is checked by
 * schema when loaded and would fail every send, while a message carries values SES alone judges.
 *
 * With `check` (verify's GetAccount, which sends nothing), an answer's error says `SES <operation> failed: <SES's own
 * message>`, with SES's code in `providerCode`; a 4xx the table gives to the message is then a ConfigurationError,
 * and a 504 or a lost answer a TransientError (nothing was sent that could be delivered).
 *
 * Ambiguity: SendEmail has no idempotency token, so a request that reached SES and got no answer may have been
 * sent. A 5xx *answer* is SES saying the request failed, which AWS's own SDKs retry by default: TransientError.
 * A 504 is a gateway saying the backend did not answer, and a dropped or timed-out connection says nothing:
 * AmbiguousDeliveryError, so neither a retry nor a failover sends it twice unless a route allows duplicates.
 */
export function translateSesError(
  error: unknown,
  origin: ErrorOrigin,
  watch?: ConnectWatch,
  check?: { operation: string },
): MailrouteError {
  if (isMailrouteError(error)) return error;
  const e = (error ?? {}) as AwsSdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const reason = e.message || name;
  const options = { ...origin, cause: error, providerCode: status && name === 'Unknown' ? status : name };
  // A check (verify's GetAccount) sends no message: an answer is told as SES's own words about that call.
  const checkFailed = check ? `SES ${check.operation} failed: ${reason}` : undefined;
  const said = (sending: string) => checkFailed ?? sending;
  if (THROTTLED.has(name) || status === 429) {
    const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
    return new ThrottledError(said(`SES throttled the send (${name}): ${reason}`), {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (UNAVAILABLE.has(name)) {
    return new ProviderUnavailableError(said(`SES cannot send now (${name}): ${reason}`), options);
  }
  if (name === 'MessageRejected') {
    // SES uses MessageRejected both for content and for identities that are not verified (sandbox recipients,
    // the sender): the latter is this provider's setup, which another provider does not share.
    if (/not verified/i.test(reason)) return new AuthenticationError(said(`SES: ${reason}`), options);
    return new ContentRejectedError(said(`SES rejected the message: ${reason}`), options);
  }
  if (
    name === 'MailFromDomainNotVerifiedException' ||
    AWS_CREDENTIALS_REFUSED.has(name) ||
    status === 401 ||
    status === 403
  ) {
    return new AuthenticationError(said(`SES refused the sender or the credentials (${name}): ${reason}`), options);
  }
  if (name === 'CredentialsProviderError') {
    return new ConfigurationError(`SES: no AWS credentials: ${reason}`, {
      ...options,
      issues: [{ path: 'credentials', message: 'no credentials in the configuration or the default provider chain' }],
    });
  }
  if (name === 'NotFoundException' || status === 404) {
    return new ConfigurationError(
      said(`SES: ${reason} (a configuration set or contact list that does not exist?)`),
      options,
    );
  }
  if (status === 504) {
    if (checkFailed) return new TransientError(checkFailed, options);
    return ambiguous(`SES's gateway timed out (504): ${reason}`, options);
  }
  if ((status && status >= 500) || e.$fault === 'server') {
    return new TransientError(said(`SES answered ${status ?? 'a server error'} (${name}): ${reason}`), options);
  }
  if (status && status >= 400) {
    // No message is involved in a check: a refused request is about the setup.
    if (checkFailed) return new ConfigurationError(checkFailed, options);
    return new InvalidMessageError([{ path: '', message: `SES refused it (${name}): ${reason}` }], options);
  }
  // smithy's own connectionTimeout (a client of the caller's may set it) says the same as the agents' bound.
  const smithyConnectTimeout = name === 'TimeoutError' && /establish a connection/.test(reason);
  const unsent = unsentFailure(error, watch, 'SES', options);
  if (unsent) return unsent;
  if (smithyConnectTimeout) return new ProviderUnavailableError(`SES could not be connected to: ${reason}`, options);
  if (e.code && NEVER_CONNECTED_CODES.has(e.code)) {
    return new TransientError(`SES unreachable (${e.code ?? name}): ${reason}`, options);
  }
  // A socket error carries an errno code; anything else was raised in the client before a request left.
  const inFlight = name === 'AbortError' || name === 'TimeoutError' || /^E[A-Z_]+$/.test(e.code ?? '');
  if (!inFlight) return new ConfigurationError(`the SES client failed before sending (${name}): ${reason}`, options);
  if (check)
    return new TransientError(`no answer from SES to ${check.operation} (${e.code ?? name}): ${reason}`, options);
  return ambiguous(`no answer from SES after the request was sent (${e.code ?? name}): ${reason}`, options);
}

function ambiguous(what: string, options: ConstructorParameters<typeof AmbiguousDeliveryError>[1]) {
  return new AmbiguousDeliveryError(`${what}; SES may have sent it (SendEmail has no idempotency token)`, options);
}
