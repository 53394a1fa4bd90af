import {
  type Attempt,
  MessageTooLargeError,
  type RejectedRecipient,
  type SuppressedRecipient,
  UnsupportedFeatureError,
} from '../errors.ts';
import type { PreparedMessage } from '../message/compose.ts';
import { allRecipients } from '../message/recipients.ts';

export type Mode = 'smtp' | 'api';

/** What a provider mode can carry. The core refuses a message that needs more, before any adapter is called. */
export interface Capabilities {
  attachments: boolean;
  inlineImages: boolean;
  tags: boolean;
  customHeaders: boolean;
  replyTo: boolean;
  cc: boolean;
  bcc: boolean;
  /**
   * The `providerOptions.<provider>` keys this mode carries. A message giving any other is refused here, as a
   * feature this mode lacks (another entry may carry it), never sent with the option dropped. Absent: none.
   */
  providerOptions?: readonly string[];
}

export interface Limits {
  /** The largest encoded (MIME) message the provider takes, in bytes. */
  maxEncodedBytes: number;
  /** The most recipients (to + cc + bcc) in one message. */
  maxRecipients: number;
}

export interface SendContext {
  /** Epoch milliseconds by which the send must have answered (a function's remaining time). */
  deadline?: number;
  signal?: AbortSignal;
  /**
   * When this message was first handed to this provider entry, in epoch ms: kept in the idempotency claim, so a
   * retry or a redelivery after a crash repeats the same request (a repeatable request's first-sent time). Absent when the
   * send has no idempotency key.
   */
  firstSentAt?: number;
}

/**
 * What the idempotency claim records the moment an attempt is handed to a provider, so that a redelivery
 * finding it (after a crash, or a lease that ran out) knows a send may have happened, and where.
 */
export interface AttemptRecord {
  /** The provider entry's name, provider and mode. */
  name: string;
  provider: string;
  mode: Mode;
  /** Epoch ms (the sender's clock) when this attempt was handed over. */
  startedAt: number;
  /** Epoch ms when this message was first handed to this entry (the first of its attempts there). */
  firstSentAt: number;
  /** The provider's own idempotency token for this message, when it has one (a repeatable-request id). */
  token?: string;
}

/**
 * What a provider says of an attempt that may have been delivered:
 * - `delivered`: it has the message (the result to record; nothing is sent again);
 * - `not-delivered`: it certainly does not have it, so sending it (again) cannot duplicate it;
 * - `in-progress`: it is still working on it: ask again later;
 * - `unknown`: it cannot tell (the reason says why): the send is declared ambiguous.
 */
export type Settlement =
  | { status: 'delivered'; sent: AdapterSendResult }
  | { status: 'not-delivered'; reason: string }
  | { status: 'in-progress'; reason: string }
  | { status: 'unknown'; reason: string };

/** What an adapter returns; the mailer adds name, timings and the composed message's facts. */
export interface AdapterSendResult {
  providerMessageId?: string;
  accepted: string[];
  rejected: RejectedRecipient[];
  /** Provider-specific facts worth keeping (an operation id, an envelope id). */
  details?: Record<string, unknown>;
}

export interface SendResult extends AdapterSendResult {
  /** The configured name of the provider entry that sent it. */
  name: string;
  provider: string;
  mode: Mode;
  /** The `Message-ID` header. */
  messageId: string;
  /** The exact encoded size, when the message was composed into MIME for this send. */
  size?: number;
  /** The route the send took. */
  route?: string;
  /** Recipients left out because they are on the suppression list (each also in `rejected`, reason `SUPPRESSED`). */
  suppressed?: SuppressedRecipient[];
  /** Every provider tried, in order, with its outcome. */
  attempts?: Attempt[];
  /** True when this result was recorded by an earlier send with the same idempotency key: nothing was sent now. */
  duplicate?: boolean;
  /**
   * True when an earlier attempt whose sender stopped before knowing the outcome (a crash, a lost answer) was
   * found delivered at the provider (a repeated request, a lookup): nothing was sent now.
   */
  settled?: boolean;
  /**
   * Delivered, but with something the caller should know, e.g. `STATE_NOT_RECORDED`: the state store failed to
   * record the outcome (a redelivery then settles it or declares it ambiguous, never sends it blindly).
   */
  warnings?: Record<string, unknown>[];
  metadata?: Record<string, string | number | boolean>;
  timings: { validateMs: number; composeMs: number; sendMs: number; totalMs: number };
}

/**
 * One provider in one mode. Adapters translate every provider or SDK error into the project's error classes
 * at this boundary, so the router decides from the class alone.
 */
export interface Adapter {
  readonly name: string;
  readonly provider: string;
  readonly mode: Mode;
  readonly capabilities: Capabilities;
  readonly limits: Limits;
  send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult>;
  /** Checks connectivity and credentials without sending mail. */
  verify(context?: SendContext): Promise<void>;
  close(): Promise<void>;
  /**
   * The provider's own idempotency token for this message (derived from its idempotency key), recorded in the
   * claim before the send. Only adapters of providers that de-duplicate on a token of their own have one.
   */
  idempotencyToken?(prepared: PreparedMessage): string | undefined;
  /**
   * Settles an attempt that may have been delivered (its sender crashed, or lost the answer), without ever
   * delivering the message twice: by repeating the request under the provider's own idempotency
   * (repeatable requests), or by looking the message up in the sender's mailbox. Adapters of providers that can
   * do neither have no `settle`: their ambiguous sends stay declared ambiguous. Errors are the project's own.
   */
  settle?(prepared: PreparedMessage, attempt: AttemptRecord, context: SendContext): Promise<Settlement>;
}

/** A provider's default limits, lowered or raised by the entry's `limits` setting. */
export function configuredLimits(defaults: Limits, configured?: Partial<Limits>): Limits {
  return {
    maxEncodedBytes: configured?.maxEncodedBytes ?? defaults.maxEncodedBytes,
    maxRecipients: configured?.maxRecipients ?? defaults.maxRecipients,
  };
}

export const ALL_CAPABILITIES: Capabilities = {
  attachments: true,
  inlineImages: true,
  tags: true,
  customHeaders: true,
  replyTo: true,
  cc: true,
  bcc: true,
};

/**
 * Checks a composed message against an adapter's declared capabilities and limits, once, before sending:
 * the message is refused with "<provider> does not support <feature>" rather than sent with a part dropped.
 */
export async function checkCapabilities(prepared: PreparedMessage, adapter: Adapter): Promise<void> {
  const { message } = prepared;
  const origin = { provider: adapter.provider, mode: adapter.mode };
  const caps = adapter.capabilities;
  const unsupported = (feature: string, path: string) =>
    new UnsupportedFeatureError(`${feature} in ${adapter.mode} mode`, { ...origin, path });
  const inline = message.attachments.findIndex((a) => a.contentId);
  const regular = message.attachments.findIndex((a) => !a.contentId);
  if (regular !== -1 && !caps.attachments) throw unsupported('attachments', `attachments[${regular}]`);
  if (inline !== -1 && !caps.inlineImages) throw unsupported('inline images', `attachments[${inline}].contentId`);
  if (message.tags.length && !caps.tags) throw unsupported('tags', 'tags');
  if (Object.keys(message.headers).length && !caps.customHeaders) throw unsupported('custom headers', 'headers');
  if (message.replyTo.length && !caps.replyTo) throw unsupported('reply-to', 'replyTo');
  if (message.cc.length && !caps.cc) throw unsupported('cc', 'cc');
  if (message.bcc.length && !caps.bcc) throw unsupported('bcc', 'bcc');
  for (const option of Object.keys(message.providerOptions[adapter.provider] ?? {})) {
    if (!caps.providerOptions?.includes(option)) {
      throw unsupported(`the option "${option}"`, `providerOptions.${adapter.provider}.${option}`);
    }
  }
  const recipients = allRecipients(message).length;
  if (recipients > adapter.limits.maxRecipients) {
    throw new MessageTooLargeError(
      'recipients (to + cc + bcc)',
      recipients,
      adapter.limits.maxRecipients,
      'recipients',
      origin,
    );
  }
  // The exact size is only computed (by composing) when the cheap upper bound is over the limit.
  const limit = adapter.limits.maxEncodedBytes;
  const size = prepared.sizeUpperBound <= limit ? undefined : await prepared.encodedSize();
  if (size !== undefined && size > limit) {
    throw new MessageTooLargeError('the encoded message', size, adapter.limits.maxEncodedBytes, 'bytes', origin);
  }
}
