import { randomUUID } from 'node:crypto';
import type { EmailClient, EmailClientOptions } from '@azure/communication-email';
import type { TokenCredential } from '@azure/identity';
import type {
  Adapter,
  AdapterSendResult,
  AttemptRecord,
  Capabilities,
  Limits,
  SendContext,
  Settlement,
} from '../../core/contract/adapter.ts';
import { configuredLimits } from '../../core/contract/adapter.ts';
import { TransientError } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { callSignal, deadlinePassed } from '../../core/util/deadline.ts';
import { ConnectWatch } from '../http/connect-watch.ts';
import { createEmailClient } from './api-client.ts';
import { type AcsSendFacts, translateAcsError } from './api-errors.ts';
import { operationIdFor, repeatabilityIdFor, toAcsMessage } from './api-message.ts';
import { completeSend, generatedClientOf, postEmail } from './api-post.ts';
import {
  addRepeatabilityPolicy,
  DEFAULT_REPEATABILITY,
  FirstSentMemory,
  type RepeatabilityOptions,
} from './api-repeatability.ts';
import { settleAcsAttempt } from './api-settle.ts';
import type { AzureConfig } from './config.ts';
import { azure } from './index.ts';

/** How long `waitForCompletion` polls when `pollTimeoutMs` is not configured. */
export const DEFAULT_POLL_TIMEOUT_MS = 30_000;

export interface AzureApiAdapterOptions {
  /**
   * A client of your own (as nodemailer takes one): the adapter then leaves auth and retries to it (turn the
   * SDK's retries off: its re-POST after a dropped connection would come with a new first-sent), and adds its
   * repeatability policy to the client's pipeline.
   */
  client?: EmailClient;
  /** An Entra token credential of your own (managed identity, workload identity), used with `endpoint`. */
  credential?: TokenCredential;
  /** Pipeline options for the client the adapter builds (a private CA in `tlsOptions`, a proxy, policies). */
  clientOptions?: EmailClientOptions;
  env?: NodeJS.ProcessEnv;
  /** The repeatability window ACS tracks (5 minutes) and the margin kept back from it; tests shorten them. */
  repeatability?: RepeatabilityOptions;
}

/**
 * Azure Communication Services Email in API mode: `EmailClient.beginSend` with an Operation-Id derived from
 * the idempotency key and, with a key, as a repeatable request (Repeatability-Request-Id derived from the key,
 * Repeatability-First-Sent the first attempt's time), so a retry or a settlement never sends a second email.
 * With `waitForCompletion` it polls (bounded by `pollTimeoutMs` and the deadline) until the operation ends;
 * without, it returns once the service accepted it (202), the operation id as provider id.
 */
export class AzureApiAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'azure';
  readonly mode = 'api' as const;
  readonly capabilities: Capabilities = azure.modes.api.capabilities;
  readonly limits: Limits;
  readonly name: string;
  private readonly config: AzureConfig;
  private readonly client: EmailClient;
  private readonly repeatability: Required<RepeatabilityOptions>;
  private readonly firstSent: FirstSentMemory;

  constructor(config: AzureConfig, options: AzureApiAdapterOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.limits = configuredLimits(azure.modes.api.limits, config.limits);
    this.repeatability = { ...DEFAULT_REPEATABILITY, ...options.repeatability };
    this.firstSent = new FirstSentMemory(this.repeatability);
    this.client =
      options.client ??
      createEmailClient(config, options.env ?? process.env, options.credential, options.clientOptions);
    if (options.client) addRepeatabilityPolicy(options.client);
  }

  /** The Repeatability-Request-Id of a message with an idempotency key. */
  idempotencyToken(prepared: PreparedMessage): string | undefined {
    return repeatabilityIdFor(prepared.message);
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const origin = { provider: this.provider, mode: this.mode };
    const message = toAcsMessage(prepared, this.config);
    const operationId = operationIdFor(prepared.message);
    const requestId = repeatabilityIdFor(prepared.message);
    const key = prepared.message.idempotencyKey;
    const facts: AcsSendFacts = {
      operationId,
      keyed: key !== undefined,
      ...(key === undefined ? {} : { idempotencyKey: key }),
      size: prepared.size ?? prepared.sizeUpperBound,
      maxBytes: this.limits.maxEncodedBytes,
    };
    const abortSignal = this.callSignal(context);
    const repeatability = requestId
      ? { requestId, firstSentAt: this.firstSent.firstSentAt(requestId, context.firstSentAt) }
      : undefined;
    // The watch tells a POST that never had a connection (nothing sent) from one whose answer was lost.
    const watch = new ConnectWatch();
    const outcome = await postEmail(this.client, message, {
      operationId,
      watch,
      ...(repeatability ? { repeatability } : {}),
      ...(this.config.pollIntervalMs ? { pollIntervalMs: this.config.pollIntervalMs } : {}),
      ...(abortSignal ? { abortSignal } : {}),
    });
    if (!outcome.accepted) throw translateAcsError(outcome.error, origin, facts, watch);
    return completeSend(prepared, outcome, operationId, origin, {
      ...(this.config.waitForCompletion ? { pollTimeoutMs: this.config.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS } : {}),
      ...(abortSignal ? { abortSignal } : {}),
    });
  }

  /**
   * Reads the status of an operation that does not exist: 404 once the request is authenticated, 401 when not.
   * EmailClient has no read-only call of its own; its generated client's getSendResult is that GET.
   */
  async verify(context: SendContext = {}): Promise<void> {
    const generated = generatedClientOf(this.client);
    if (!generated) return;
    const abortSignal = this.callSignal(context);
    const facts = { operationId: randomUUID(), keyed: true, size: 0, maxBytes: this.limits.maxEncodedBytes };
    try {
      await generated.email.getSendResult(facts.operationId, abortSignal ? { abortSignal } : {});
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return;
      throw translateAcsError(error, { provider: this.provider, mode: this.mode }, facts);
    }
  }

  /**
   * Settles an attempt that may have reached ACS: by repeating the request while ACS tracks it, then by reading
   * its operation (see `settleAcsAttempt`).
   */
  async settle(prepared: PreparedMessage, attempt: AttemptRecord, context: SendContext): Promise<Settlement> {
    const abortSignal = this.callSignal(context);
    return settleAcsAttempt(
      {
        client: this.client,
        config: this.config,
        origin: { provider: this.provider, mode: this.mode },
        repeatability: this.repeatability,
        maxBytes: this.limits.maxEncodedBytes,
        ...(abortSignal ? { abortSignal } : {}),
      },
      prepared,
      attempt,
    );
  }

  async close(): Promise<void> {}

  /** The caller's signal and the deadline as one abort signal, so the SDK call ends within the caller's time. */
  private callSignal(context: SendContext): AbortSignal | undefined {
    if (context.deadline !== undefined && deadlinePassed(context)) {
      throw new TransientError('the deadline passed before the request to ACS was made', {
        provider: this.provider,
        mode: this.mode,
      });
    }
    return callSignal(context);
  }
}
