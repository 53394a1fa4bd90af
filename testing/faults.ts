import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
  UnsupportedFeatureError,
} from '../core/errors.ts';
import type { PreparedMessage } from '../core/message/compose.ts';

/** The error codes a test entry can fail with: the ones a provider's adapter raises. */
export const FAULT_CODES = [
  'PROVIDER_UNAVAILABLE',
  'TRANSIENT',
  'THROTTLED',
  'AUTHENTICATION',
  'CONFIGURATION',
  'RECIPIENT_REJECTED',
  'CONTENT_REJECTED',
  'AMBIGUOUS',
  'MESSAGE_TOO_LARGE',
  'UNSUPPORTED_FEATURE',
] as const;

export type FaultCode = (typeof FAULT_CODES)[number];

/** One of the project's error classes, e.g. `ThrottledError` (each stands for its code). */
export type FaultClass = abstract new (...args: never[]) => MailrouteError;

/** What a faulty attempt is told: the entry it went to, and the message it was given. */
export interface FaultContext {
  entry: string;
  provider: string;
  mode: 'smtp' | 'api';
  prepared: PreparedMessage;
}

/**
 * How an attempt fails: an error code (`'THROTTLED'`), an error class (`ThrottledError`), or a function returning
 * the error to throw (any value: one that is not a mailroute error is taken as an outage, as from a real adapter).
 */
export type Fault = FaultCode | FaultClass | ((context: FaultContext) => unknown);

export interface FaultOptions {
  /** The error's message; default: says which entry failed and that the fault was injected. */
  message?: string;
  /** `THROTTLED`: when the entry may be tried again (a Retry-After). */
  retryAfterMs?: number;
  /** The provider's own code to put on the error (`454`, `TooManyRequestsException`). */
  providerCode?: string | number;
  /** `RECIPIENT_REJECTED`: the reason given for each recipient; default "rejected by the test entry". */
  reason?: string;
  /**
   * `AMBIGUOUS` only: the entry did take the message (it is recorded in the outbox) before the answer was lost,
   * as when a connection drops after the hand-over. Default false: the message is not recorded.
   */
  delivered?: boolean;
}

const CLASS_CODES = new Map<FaultClass, FaultCode>([
  [ProviderUnavailableError, 'PROVIDER_UNAVAILABLE'],
  [TransientError, 'TRANSIENT'],
  [ThrottledError, 'THROTTLED'],
  [AuthenticationError, 'AUTHENTICATION'],
  [ConfigurationError, 'CONFIGURATION'],
  [RecipientRejectedError, 'RECIPIENT_REJECTED'],
  [ContentRejectedError, 'CONTENT_REJECTED'],
  [AmbiguousDeliveryError, 'AMBIGUOUS'],
  [MessageTooLargeError, 'MESSAGE_TOO_LARGE'],
  [UnsupportedFeatureError, 'UNSUPPORTED_FEATURE'],
]);

const DESCRIPTIONS: Record<FaultCode, string> = {
  PROVIDER_UNAVAILABLE: 'the provider is unavailable',
  TRANSIENT: 'a transient failure',
  THROTTLED: 'throttled',
  AUTHENTICATION: 'credentials refused',
  CONFIGURATION: 'the provider is set up wrong',
  RECIPIENT_REJECTED: 'recipients rejected',
  CONTENT_REJECTED: 'the content was refused',
  AMBIGUOUS: 'the connection dropped after the message was handed over',
  MESSAGE_TOO_LARGE: 'the message is too large',
  UNSUPPORTED_FEATURE: 'a feature of the message is not supported',
};

/** A checked fault, ready to make one error per failing attempt. */
export interface FaultPlan {
  /** The code, or undefined for a function fault. */
  code: FaultCode | undefined;
  delivered: boolean;
  make(context: FaultContext): unknown;
}

/** Checks a fault when it is set (not when it fires), so a typo fails the test at the line that made it. */
export function planFault(fault: Fault, options: FaultOptions = {}): FaultPlan {
  const delivered = options.delivered === true;
  if (typeof fault === 'function' && !CLASS_CODES.has(fault as FaultClass)) {
    if (isClass(fault)) {
      throw new TypeError(
        `${fault.name || 'this class'} is not an error class a provider raises; give one of ${[...CLASS_CODES.keys()].map((c) => c.name).join(', ')}, or a function returning the error`,
      );
    }
    if (delivered) throw new TypeError('delivered: true is for AMBIGUOUS faults only');
    return { code: undefined, delivered, make: fault as (context: FaultContext) => unknown };
  }
  const code = typeof fault === 'string' ? fault : CLASS_CODES.get(fault as FaultClass)!;
  if (!(FAULT_CODES as readonly string[]).includes(code)) {
    throw new TypeError(`"${code}" is not a fault code; give one of ${FAULT_CODES.join(', ')}`);
  }
  if (delivered && code !== 'AMBIGUOUS') throw new TypeError('delivered: true is for AMBIGUOUS faults only');
  return { code, delivered, make: (context) => errorFor(code, options, context) };
}

function isClass(value: unknown): boolean {
  return typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value));
}

/** The project's own error for a code, as the entry's adapter would raise it. */
export function errorFor(code: FaultCode, options: FaultOptions, context: FaultContext): MailrouteError {
  const origin = {
    provider: context.provider,
    mode: context.mode,
    ...(options.providerCode === undefined ? {} : { providerCode: options.providerCode }),
  };
  const message = options.message ?? `${context.entry}: ${DESCRIPTIONS[code]} (a fault set in the test outbox)`;
  switch (code) {
    case 'PROVIDER_UNAVAILABLE':
      return new ProviderUnavailableError(message, origin);
    case 'TRANSIENT':
      return new TransientError(message, origin);
    case 'THROTTLED':
      return new ThrottledError(message, {
        ...origin,
        ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
      });
    case 'AUTHENTICATION':
      return new AuthenticationError(message, origin);
    case 'CONFIGURATION':
      return new ConfigurationError(message, origin);
    case 'RECIPIENT_REJECTED': {
      const reason = options.reason ?? options.message ?? 'rejected by the test entry';
      const recipients = context.prepared.envelope.to.map((address) => ({ address, reason }));
      return new RecipientRejectedError(recipients, origin);
    }
    case 'CONTENT_REJECTED':
      return new ContentRejectedError(message, origin);
    case 'AMBIGUOUS':
      return new AmbiguousDeliveryError(message, origin);
    case 'MESSAGE_TOO_LARGE': {
      const size = context.prepared.sizeUpperBound;
      return new MessageTooLargeError('the encoded message', size, size - 1, 'bytes', origin);
    }
    case 'UNSUPPORTED_FEATURE':
      return new UnsupportedFeatureError(options.message ?? 'a feature of this message', origin);
  }
}
