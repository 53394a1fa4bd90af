import { redactSecrets } from '../../core/config/secrets.ts';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  type MailrouteErrorOptions,
  ProviderUnavailableError,
  RecipientRejectedError,
  type RejectedRecipient,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import { NEVER_CONNECTED_CODES } from '../../core/util/network.ts';
import { isHandshakeTimeout } from './handshake.ts';

/** What a reply means to a router. `quota` is a throttle that lasts long enough to move on to another provider. */
export type ReplyMeaning =
  | 'transient'
  | 'throttled'
  | 'quota'
  | 'auth'
  | 'recipient'
  | 'sender'
  | 'content'
  | 'configuration'
  | 'unavailable';

/** A provider's own reading of a reply, tried before the generic one, against the whole reply line. */
export interface ReplyRule {
  match: RegExp;
  meaning: ReplyMeaning;
  /** For `throttled` and `quota`: how long to leave this provider alone. */
  retryAfterMs?: number;
}

export type SmtpStage = 'connection' | 'ehlo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'end-of-data';

/** A rate limit is per second or minute: a short pause. */
export const THROTTLE_RETRY_MS = 1_000;
/** A daily quota will not come back soon: long enough that a router sends elsewhere. */
export const QUOTA_RETRY_MS = 60 * 60 * 1000;

/** The fields nodemailer puts on its errors. */
interface SmtpFailure extends Error {
  code?: string;
  originalCode?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  timeoutType?: string;
  rejectedErrors?: SmtpFailure[];
}

const STAGE_TEXT: Record<SmtpStage, string> = {
  connection: 'the connection',
  ehlo: 'EHLO',
  starttls: 'STARTTLS',
  auth: 'AUTH',
  mail: 'MAIL FROM',
  rcpt: 'RCPT TO',
  data: 'DATA',
  'end-of-data': 'the end of DATA',
};

const AUTH_CODES = new Set([530, 534, 535, 538]);
const CERTIFICATE_PROBLEM = /certificate|self[- ]signed|altname|does not match|unable to verify|CERT_|UNABLE_TO_/i;

function stageOf(failure: SmtpFailure): SmtpStage {
  const command = failure.command ?? '';
  if (/^(EHLO|HELO|LHLO)/.test(command)) return 'ehlo';
  if (command === 'STARTTLS') return 'starttls';
  if (command.startsWith('AUTH')) return 'auth';
  if (command === 'MAIL FROM') return 'mail';
  if (command === 'RCPT TO') return 'rcpt';
  // nodemailer tags both DATA replies 'DATA': the reply to the command is an envelope error, the final one is not.
  if (command === 'DATA') return failure.code === 'EMESSAGE' ? 'end-of-data' : 'data';
  return 'connection';
}

function genericMeaning(code: number, stage: SmtpStage): ReplyMeaning {
  if (AUTH_CODES.has(code)) return 'auth';
  if (code < 500) return 'transient';
  switch (stage) {
    case 'auth':
      return 'auth';
    case 'rcpt':
      return 'recipient';
    case 'mail':
      return 'sender';
    case 'data':
    case 'end-of-data':
      return 'content';
    case 'ehlo':
      return 'configuration';
    default:
      return 'unavailable';
  }
}

/** Reads one reply: the provider's rules first, then the reply code and the stage it answered. */
export function readReply(
  reply: string,
  code: number,
  stage: SmtpStage,
  rules: readonly ReplyRule[],
): { meaning: ReplyMeaning; retryAfterMs?: number } {
  const rule = rules.find((r) => r.match.test(reply));
  return rule ?? { meaning: genericMeaning(code, stage) };
}

export interface TranslateContext {
  provider: string;
  rules: readonly ReplyRule[];
  /** The whole message, final dot included, went to the server: without a final reply it may have been taken. */
  handedOver: boolean;
  /**
   * The session was set up (connect, greeting, EHLO, STARTTLS, AUTH) and the message started on it. False: a
   * timeout is the server failing to set a session up, which received nothing. Undefined when not known.
   */
  sessionReady?: boolean;
}

/**
 * Translates what nodemailer raised into the project's errors. A definite reply decides by itself; without
 * one, the only question is whether the message had been handed over.
 */
export function translateSmtpError(error: unknown, context: TranslateContext): MailrouteError {
  if (isMailrouteError(error)) return error;
  const failure = scrub(error instanceof Error ? (error as SmtpFailure) : (new Error(String(error)) as SmtpFailure));
  const origin: MailrouteErrorOptions = { provider: context.provider, mode: 'smtp', cause: failure };
  const stage = stageOf(failure);
  if (stage === 'rcpt' && failure.rejectedErrors?.length) {
    return allRecipientsRejected(failure.rejectedErrors, context, origin);
  }
  const code = failure.responseCode;
  if (code && code >= 400) {
    const reply = failure.response ?? String(code);
    const { meaning, retryAfterMs } = readReply(reply, code, stage, context.rules);
    const text = `${context.provider} answered "${reply}" to ${STAGE_TEXT[stage]}`;
    return errorFor(meaning, text, { ...origin, providerCode: code }, retryAfterMs);
  }
  return connectionFailure(failure, stage, context, origin);
}

function connectionFailure(
  failure: SmtpFailure,
  stage: SmtpStage,
  context: TranslateContext,
  origin: MailrouteErrorOptions,
): MailrouteError {
  const { provider } = context;
  const tls = failure.code === 'ETLS' || stage === 'starttls';
  if (CERTIFICATE_PROBLEM.test(`${failure.message} ${failure.originalCode ?? ''}`)) {
    return new ConfigurationError(
      `the TLS certificate of ${provider} was not trusted (${failure.message}): a private relay needs smtp.ca, an IP host smtp.servername`,
      { ...origin, issues: [{ path: 'smtp.ca', message: failure.message }] },
    );
  }
  if (failure.code === 'EAUTH' || failure.code === 'ENOAUTH' || failure.code === 'EOAUTH2') {
    return new AuthenticationError(`${provider} authentication failed: ${failure.message}`, origin);
  }
  if (context.handedOver) {
    return new AmbiguousDeliveryError(
      `${provider} was sent the whole message but gave no final reply (${failure.message}): it may have taken it`,
      origin,
    );
  }
  // A server that does not set a session up in time has been given nothing: another provider may take it now,
  // and trying this one again would wait as long.
  const ours = isHandshakeTimeout(failure) ? failure : failure.code === 'EABORT' ? failure.cause : undefined;
  const ourBound = isHandshakeTimeout(ours);
  if (ourBound || (context.sessionReady === false && failure.code === 'ETIMEDOUT')) {
    const what = ourBound ? (ours as Error).message : `${STAGE_TEXT[stage]} timed out (${failure.message})`;
    return new ProviderUnavailableError(`${provider}: ${what}; nothing was handed over`, origin);
  }
  if (failure.code === 'EABORT') {
    const why = (failure.cause as Error | undefined)?.name === 'TimeoutError' ? 'the deadline passed' : 'aborted';
    return new TransientError(`${provider}: ${why} before the message was handed over`, origin);
  }
  if (failure.code === 'EENVELOPE') {
    return new InvalidMessageError([{ path: 'envelope', message: failure.message }], origin);
  }
  if (
    failure.code === 'EDNS' ||
    failure.timeoutType === 'CONNECT_TIMEOUT' ||
    NEVER_CONNECTED_CODES.has(failure.originalCode ?? '') ||
    tls
  ) {
    return new ProviderUnavailableError(
      `${provider} could not be reached${tls ? ' over TLS' : ''}: ${failure.message}`,
      origin,
    );
  }
  return new TransientError(`${provider}: ${failure.message} before the message was handed over`, origin);
}

function allRecipientsRejected(
  rejections: SmtpFailure[],
  context: TranslateContext,
  origin: MailrouteErrorOptions,
): MailrouteError {
  const recipients = rejectedRecipients(rejections);
  const readings = rejections.map((r) => ({
    failure: r,
    ...readReply(r.response ?? '', r.responseCode ?? 550, 'rcpt', context.rules),
  }));
  // A throttle, a credential or a passing fault is about the provider, not the addresses: it decides.
  const byProvider = readings.find((r) => r.meaning !== 'recipient');
  if (byProvider) {
    const text = `${context.provider} answered "${byProvider.failure.response}" to RCPT TO`;
    return errorFor(
      byProvider.meaning,
      text,
      { ...origin, providerCode: byProvider.failure.responseCode },
      byProvider.retryAfterMs,
    );
  }
  return new RecipientRejectedError(recipients, { ...origin, providerCode: recipients[0]?.providerCode });
}

function errorFor(
  meaning: ReplyMeaning,
  text: string,
  options: MailrouteErrorOptions,
  retryAfterMs?: number,
): MailrouteError {
  switch (meaning) {
    case 'throttled':
      return new ThrottledError(text, { ...options, retryAfterMs: retryAfterMs ?? THROTTLE_RETRY_MS });
    case 'quota':
      return new ThrottledError(text, { ...options, retryAfterMs: retryAfterMs ?? QUOTA_RETRY_MS });
    case 'auth':
      return new AuthenticationError(text, options);
    case 'recipient':
      return new RecipientRejectedError(
        [{ address: '(all)', reason: text, providerCode: options.providerCode }],
        options,
      );
    case 'content':
      return new ContentRejectedError(text, options);
    case 'sender':
      return new ConfigurationError(`${text}: the sender is not allowed there`, options);
    case 'configuration':
      return new ConfigurationError(text, options);
    case 'unavailable':
      return new ProviderUnavailableError(text, options);
    default:
      return new TransientError(text, options);
  }
}

/** The recipients a server refused, each with its own reply. */
export function rejectedRecipients(rejections: readonly unknown[]): RejectedRecipient[] {
  return rejections.map((r) => {
    const failure = r as SmtpFailure;
    return {
      address: failure.recipient ?? '',
      reason: redactSecrets(failure.response ?? failure.message),
      ...(failure.responseCode ? { providerCode: failure.responseCode } : {}),
    };
  });
}

/** A server may echo what it was sent (an AUTH blob); the cause is kept, so it is scrubbed too. */
function scrub(failure: SmtpFailure): SmtpFailure {
  failure.message = redactSecrets(failure.message);
  if (failure.response) failure.response = redactSecrets(failure.response);
  for (const rejection of failure.rejectedErrors ?? []) scrub(rejection);
  return failure;
}
