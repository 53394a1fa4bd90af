import { redactSecrets } from './config/secrets.ts';

/** Which provider and mode raised an error; both absent for errors raised before any adapter ran. */
export interface ErrorOrigin {
  provider?: string;
  mode?: 'smtp' | 'api';
}

export interface FieldIssue {
  /** Path of the offending field, such as `to[2]` or `attachments[0].content`. */
  path: string;
  message: string;
}

export interface MailrouteErrorOptions extends ErrorOrigin {
  cause?: unknown;
  /** The provider's own status or reply code (`454`, `TooManyRequestsException`), when there is one. */
  providerCode?: string | number;
}

/**
 * The one base error. Each subclass says, as data, whether retrying the same provider may help (`retryable`)
 * and whether another provider may help (`failover`). The router decides from these two flags only.
 */
export abstract class MailrouteError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  abstract readonly failover: boolean;
  /** Whether trying the same provider again within this send may help: a blip, a short throttle. */
  readonly retryNow: boolean = false;
  /** Whether the provider may have taken the message: then it is never sent elsewhere, unless a route allows it. */
  readonly mayHaveDelivered: boolean = false;
  readonly provider?: string;
  readonly mode?: 'smtp' | 'api';
  readonly providerCode?: string | number;
  /** Every attempt the router made before this error was returned, when it came from a send. */
  attempts?: Attempt[];

  constructor(message: string, options: MailrouteErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.provider = options.provider;
    this.mode = options.mode;
    this.providerCode = options.providerCode;
    this.name = new.target.name;
  }

  /** A JSON form for CLI output, HTTP answers and logs: no stack, no secret, the cause as text. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      failover: this.failover,
    };
    if (this.provider) out.provider = this.provider;
    if (this.mode) out.mode = this.mode;
    if (this.providerCode !== undefined) out.providerCode = this.providerCode;
    if (this.attempts) out.attempts = this.attempts;
    Object.assign(out, this.details());
    if (this.cause !== undefined) out.cause = redactSecrets(describeCause(this.cause));
    return out;
  }

  protected details(): Record<string, unknown> {
    return {};
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}

// The classes below share one shape on purpose: one class per concept, its flags and facts as data.

/** The message itself is wrong; no retry and no other provider will change that. */
export class InvalidMessageError extends MailrouteError {
  readonly code = 'INVALID_MESSAGE';
  readonly retryable = false;
  readonly failover = false;
  /** The first `MAX_ISSUES` problems; `moreIssues` counts the rest (a message with 100,000 bad tags stays readable). */
  readonly issues: FieldIssue[];
  readonly moreIssues: number;
  constructor(issues: FieldIssue[], options: MailrouteErrorOptions = {}) {
    const kept = issues.slice(0, MAX_ISSUES);
    const more = issues.length - kept.length;
    const summary = kept.map((i) => `${i.path || '(message)'}: ${i.message}`).join('; ');
    super(`Invalid message: ${summary}${more ? `; and ${more} more` : ''}`, options);
    this.issues = kept;
    this.moreIssues = more;
  }
  protected override details() {
    return { issues: this.issues, ...(this.moreIssues ? { moreIssues: this.moreIssues } : {}) };
  }
}

/** The most field issues an error carries: its text, an HTTP body and a dead-letter record stay small. */
export const MAX_ISSUES = 100;

/** The chosen provider cannot carry a feature the message uses; another provider may. */
export class UnsupportedFeatureError extends MailrouteError {
  readonly code = 'UNSUPPORTED_FEATURE';
  readonly retryable = false;
  readonly failover = true;
  readonly feature: string;
  readonly path?: string;
  constructor(feature: string, options: MailrouteErrorOptions & { path?: string } = {}) {
    super(`${options.provider ?? 'this provider'} does not support ${feature}`, options);
    this.feature = feature;
    this.path = options.path;
  }
  protected override details() {
    return { feature: this.feature, ...(this.path ? { path: this.path } : {}) };
  }
}

/** Over a size or count limit of the provider (bytes, recipients); another provider may have a higher one. */
export class MessageTooLargeError extends MailrouteError {
  readonly code = 'MESSAGE_TOO_LARGE';
  readonly retryable = false;
  readonly failover = true;
  readonly field: string;
  readonly limit: number;
  readonly actual: number;
  constructor(field: string, actual: number, limit: number, unit: string, options: MailrouteErrorOptions = {}) {
    super(
      `${field} is ${actual} ${unit}, over the limit of ${limit} ${unit} of ${options.provider ?? 'the provider'}`,
      options,
    );
    this.field = field;
    this.limit = limit;
    this.actual = actual;
  }
  protected override details() {
    return { field: this.field, limit: this.limit, actual: this.actual };
  }
}

export interface RejectedRecipient {
  address: string;
  reason: string;
  providerCode?: string | number;
}

/** Every recipient was refused; another provider would refuse them too. */
export class RecipientRejectedError extends MailrouteError {
  readonly code = 'RECIPIENT_REJECTED';
  readonly retryable = false;
  readonly failover = false;
  readonly recipients: RejectedRecipient[];
  constructor(recipients: RejectedRecipient[], options: MailrouteErrorOptions = {}) {
    super(`Recipient rejected: ${recipients.map((r) => `${r.address} (${r.reason})`).join(', ')}`, options);
    this.recipients = recipients;
  }
  protected override details() {
    return { recipients: this.recipients };
  }
}

/** The content was refused (spam, virus, policy); another provider would refuse it too. */
export class ContentRejectedError extends MailrouteError {
  readonly code = 'CONTENT_REJECTED';
  readonly retryable = false;
  readonly failover = false;
}

/** Rate or quota exceeded. `retryAfterMs` says when this provider may take it again. */
export class ThrottledError extends MailrouteError {
  readonly code = 'THROTTLED';
  readonly retryable = true;
  readonly failover = true;
  override readonly retryNow = true;
  readonly retryAfterMs?: number;
  constructor(message: string, options: MailrouteErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
  protected override details() {
    return this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs };
  }
}

/** The provider is down, paused or unreachable. */
export class ProviderUnavailableError extends MailrouteError {
  readonly code = 'PROVIDER_UNAVAILABLE';
  readonly retryable = true;
  readonly failover = true;
}

/** A passing fault (a dropped connection before the message was handed over, a 4xx reply): retry soon. */
export class TransientError extends MailrouteError {
  readonly code = 'TRANSIENT';
  readonly retryable = true;
  readonly failover = true;
  override readonly retryNow = true;
}

/** Credentials refused or the provider set up wrong: retrying the same provider will not help, another may. */
export class AuthenticationError extends MailrouteError {
  readonly code = 'AUTHENTICATION';
  readonly retryable = false;
  readonly failover = true;
}

/** Configuration is wrong or missing; `path` names the field to fix. */
export class ConfigurationError extends MailrouteError {
  readonly code = 'CONFIGURATION';
  readonly retryable = false;
  readonly failover = true;
  readonly issues: FieldIssue[];
  constructor(message: string, options: MailrouteErrorOptions & { issues?: FieldIssue[] } = {}) {
    super(message, options);
    this.issues = options.issues ?? [];
  }
  protected override details() {
    return this.issues.length ? { issues: this.issues } : {};
  }
}

/**
 * The provider may have accepted the message: the connection dropped after it was handed over. Sending it again
 * anywhere may deliver it twice, so neither a retry nor a failover happens unless a route allows duplicates.
 */
export class AmbiguousDeliveryError extends MailrouteError {
  readonly code = 'AMBIGUOUS';
  readonly retryable = false;
  readonly failover = false;
  override readonly mayHaveDelivered = true;
  /** The attempt that may have delivered it (entry, provider, when), as the idempotency claim recorded it. */
  readonly attempt?: Record<string, unknown>;
  /** The provider's message id, when the provider returned one before the answer was lost. */
  readonly providerMessageId?: string;
  constructor(
    message: string,
    options: MailrouteErrorOptions & { attempt?: Record<string, unknown>; providerMessageId?: string } = {},
  ) {
    super(message, options);
    if (options.attempt) this.attempt = options.attempt;
    if (options.providerMessageId) this.providerMessageId = options.providerMessageId;
  }
  protected override details() {
    return {
      ...(this.attempt ? { attempt: this.attempt } : {}),
      ...(this.providerMessageId ? { providerMessageId: this.providerMessageId } : {}),
    };
  }
}

/**
 * The state store (DynamoDB, Azure Table, Redis) failed, so the send could not be recorded before it was handed
 * to a provider: nothing was sent. Retry later.
 */
export class StateStoreError extends MailrouteError {
  readonly code = 'STATE_STORE';
  readonly retryable = true;
  readonly failover = false;
  readonly operation: string;
  constructor(operation: string, options: MailrouteErrorOptions = {}) {
    const cause = options.cause as { name?: unknown; message?: unknown } | undefined;
    const why = cause ? `: ${String(cause.name ?? 'Error')}: ${String(cause.message ?? '')}` : '';
    super(`the state store failed to ${operation}${why}`, options);
    this.operation = operation;
  }
  protected override details() {
    return { operation: this.operation };
  }
}

export interface SuppressedRecipient {
  address: string;
  /** Why it is on the suppression list: `bounced` (hard, or soft past the threshold), `complained`, `unsubscribed`, `manual`. */
  reason: string;
  provider?: string;
  /** When the event that suppressed it happened, ISO 8601. */
  since?: string;
}

/**
 * Every recipient of the message is on the suppression list (a hard bounce, a complaint, an unsubscribe, on any
 * provider): nothing was sent, and no provider or retry would change that. `suppression: 'ignore'` in the message
 * sends anyway (a password reset after the user fixed their mailbox).
 */
export class SuppressedRecipientsError extends MailrouteError {
  readonly code = 'SUPPRESSED';
  readonly retryable = false;
  readonly failover = false;
  readonly recipients: SuppressedRecipient[];
  constructor(recipients: SuppressedRecipient[], options: MailrouteErrorOptions = {}) {
    super(
      `every recipient is suppressed: ${recipients.map((r) => `${r.address} (${r.reason}${r.provider ? ` on ${r.provider}` : ''})`).join(', ')}`,
      options,
    );
    this.recipients = recipients;
  }
  protected override details() {
    return { recipients: this.recipients };
  }
}

/**
 * The message's sender (`from`) is not on the configuration's `allowedSenders`, or not on the list of the route the
 * message takes (`routes[].allowedSenders`): nothing was sent, and no retry or other provider would change that.
 * `route` names the route whose list refused it, when it was a route's.
 */
export class SenderNotAllowedError extends MailrouteError {
  readonly code = 'SENDER_NOT_ALLOWED';
  readonly retryable = false;
  readonly failover = false;
  /** How many of the allowed entries the message lists; the rest are counted. */
  static readonly LISTED = 10;
  readonly sender: string;
  readonly route?: string;
  constructor(sender: string, allowed: string[], options: MailrouteErrorOptions & { route?: string } = {}) {
    const shown = allowed.slice(0, SenderNotAllowedError.LISTED).join(', ');
    const more =
      allowed.length > SenderNotAllowedError.LISTED
        ? `, and ${allowed.length - SenderNotAllowedError.LISTED} more`
        : '';
    const where = options.route === undefined ? '' : ` on route "${options.route}"`;
    const list = options.route === undefined ? 'allowedSenders' : 'its allowedSenders';
    super(`from: "${sender}" is not an allowed sender${where} (${list}: ${shown}${more})`, options);
    this.sender = sender;
    if (options.route !== undefined) this.route = options.route;
  }
  protected override details() {
    return { sender: this.sender, ...(this.route === undefined ? {} : { route: this.route }) };
  }
}

/**
 * A delivery event (or its envelope) was refused before anything was applied: a forged or tampered SNS signature, a
 * topic not on the allowlist, a certificate URL off AWS, a missing endpoint secret, a payload that is not one of
 * the source's shapes. `status` is the HTTP status to answer (400, 401 or 403).
 */
export class EventRejectedError extends MailrouteError {
  readonly code = 'EVENT_REJECTED';
  readonly retryable = false;
  readonly failover = false;
  readonly status: 400 | 401 | 403;
  readonly source: string;
  constructor(source: string, message: string, status: 400 | 401 | 403 = 400, options: MailrouteErrorOptions = {}) {
    super(`${source} event refused: ${message}`, options);
    this.source = source;
    this.status = status;
  }
  protected override details() {
    return { source: this.source };
  }
}

/**
 * Not thrown: the warning a result carries when the message was delivered but its outcome could not be written
 * to the state store (the store kept failing, or another instance had taken the claim over). The message counts as
 * sent; a redelivery finds the attempt recorded and settles it or declares it ambiguous, never sends it blindly.
 */
export class StateNotRecordedError extends MailrouteError {
  readonly code = 'STATE_NOT_RECORDED';
  readonly retryable = false;
  readonly failover = false;
  readonly messageId: string;
  readonly providerMessageId?: string;
  constructor(
    message: string,
    facts: { messageId: string; providerMessageId?: string },
    options: MailrouteErrorOptions = {},
  ) {
    super(message, options);
    this.messageId = facts.messageId;
    if (facts.providerMessageId) this.providerMessageId = facts.providerMessageId;
  }
  protected override details() {
    return {
      messageId: this.messageId,
      ...(this.providerMessageId ? { providerMessageId: this.providerMessageId } : {}),
    };
  }
}

export interface Attempt {
  /** The provider entry's configured name. */
  name: string;
  provider: string;
  mode: 'smtp' | 'api';
  /** `skipped`: not tried (circuit open, marked down, rate limit, unsupported); `reason` says why. */
  outcome: 'sent' | 'failed' | 'skipped';
  errorCode?: string;
  reason?: string;
  error?: Record<string, unknown>;
  /** The provider's own id of the message, on the attempt that sent it. */
  providerMessageId?: string;
  latencyMs: number;
}

/** Every provider tried failed; `attempts` lists each one with its error. */
export class AllProvidersFailedError extends MailrouteError {
  readonly code = 'ALL_PROVIDERS_FAILED';
  readonly retryable: boolean;
  readonly failover = false;
  override attempts: Attempt[];
  constructor(attempts: Attempt[], errors: MailrouteError[], options: MailrouteErrorOptions = {}) {
    super(
      `All providers failed: ${attempts.map((a) => `${a.name}: ${String(a.error?.message ?? a.reason ?? 'failed')}`).join('; ')}`,
      options,
    );
    this.attempts = attempts;
    this.retryable = errors.length === 0 || errors.some((e) => e.retryable || e.failover);
  }
}

/** The same idempotency key was used for a different message: a bug in the producer, never retried. */
export class IdempotencyConflictError extends MailrouteError {
  readonly code = 'IDEMPOTENCY_CONFLICT';
  readonly retryable = false;
  readonly failover = false;
  readonly idempotencyKey: string;
  constructor(key: string, options: MailrouteErrorOptions = {}) {
    super(`idempotency key "${key}" was already used for a different message`, options);
    this.idempotencyKey = key;
  }
  protected override details() {
    return { idempotencyKey: this.idempotencyKey };
  }
}

/** Another instance is sending the message with this key right now: retry later, when it has finished. */
export class SendInProgressError extends MailrouteError {
  readonly code = 'IN_PROGRESS';
  readonly retryable = true;
  readonly failover = false;
  readonly idempotencyKey: string;
  readonly retryAfterMs?: number;
  constructor(key: string, expiresAt?: number, options: MailrouteErrorOptions & { reason?: string } = {}) {
    super(options.reason ?? `a send with idempotency key "${key}" is in progress elsewhere`, options);
    this.idempotencyKey = key;
    if (expiresAt !== undefined) this.retryAfterMs = Math.max(0, expiresAt - Date.now());
  }
  protected override details() {
    return {
      idempotencyKey: this.idempotencyKey,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    };
  }
}

/** The caller's deadline came before any provider could take the message; it was not sent: redeliver it. */
export class DeadlineExceededError extends MailrouteError {
  readonly code = 'DEADLINE_EXCEEDED';
  readonly retryable = true;
  readonly failover = false;
  override attempts: Attempt[];
  constructor(attempts: Attempt[], options: MailrouteErrorOptions = {}) {
    super(
      `the deadline came before the message could be sent (${attempts.length} attempt(s) made); it was not sent`,
      options,
    );
    this.attempts = attempts;
  }
}

export function isMailrouteError(value: unknown): value is MailrouteError {
  return value instanceof MailrouteError;
}
