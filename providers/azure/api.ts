import { randomUUID } from 'node:crypto';
import type { EmailClient, EmailClientOptions } from '@azure/communication-email';
import type { TokenCredential } from '@azure/identity';
import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/adapter.ts';
import { ALL_CAPABILITIES, configuredLimits } from '../../core/adapter.ts';
import type { PreparedMessage } from '../../core/compose.ts';
import { callSignal, deadlinePassed } from '../../core/deadline.ts';
import { AmbiguousDeliveryError, TransientError } from '../../core/errors.ts';
import { createEmailClient } from './api-client.ts';
import { type AcsSendFacts, translateAcsError, unsuccessfulOperation } from './api-errors.ts';
import { type AzureApiConfig, operationIdFor, toAcsMessage } from './api-message.ts';

/** ACS Email has no message tags; inline images need api-version 2025-09-01 (the SDK's default). */
export const AZURE_API_CAPABILITIES: Capabilities = { ...ALL_CAPABILITIES, tags: false };

/** 10 MB per request including attachments, 50 recipients (to + cc + bcc). */
export const AZURE_API_LIMITS: Limits = { maxEncodedBytes: 10 * 1024 * 1024, maxRecipients: 50 };

/** How long `waitForCompletion` polls when `pollTimeoutMs` is not configured. */
export const DEFAULT_POLL_TIMEOUT_MS = 30_000;

export interface AzureApiAdapterOptions {
  /** A client of your own (as nodemailer takes one): the adapter then leaves auth and retries to it. */
  client?: EmailClient;
  /** An Entra token credential of your own (managed identity, workload identity), used with `endpoint`. */
  credential?: TokenCredential;
  /** Pipeline options for the client the adapter builds (a private CA in `tlsOptions`, a proxy, policies). */
  clientOptions?: EmailClientOptions;
  env?: NodeJS.ProcessEnv;
}

/** The operation's state as the service last reported it (the 202 or a poll). */
interface OperationBody {
  id?: string;
  status?: string;
  error?: { code?: string; message?: string };
}

/**
 * Azure Communication Services Email in API mode: `EmailClient.beginSend` with an Operation-Id derived from
 * the idempotency key. With `waitForCompletion` it polls (bounded by `pollTimeoutMs` and the deadline) until the
 * operation ends; without, it returns once the service accepted it (202), the operation id as provider id.
 */
export class AzureApiAdapter implements Adapter {
  readonly provider = 'azure';
  readonly mode = 'api' as const;
  readonly capabilities = AZURE_API_CAPABILITIES;
  readonly limits: Limits;
  readonly name: string;
  private readonly config: AzureApiConfig;
  private readonly client: EmailClient;

  constructor(config: AzureApiConfig, options: AzureApiAdapterOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.limits = configuredLimits(AZURE_API_LIMITS, config.limits);
    this.client =
      options.client ??
      createEmailClient(config, options.env ?? process.env, options.credential, options.clientOptions);
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const origin = { provider: this.provider, mode: this.mode };
    const message = toAcsMessage(prepared, this.config);
    const operationId = operationIdFor(prepared.message);
    const facts: AcsSendFacts = {
      operationId,
      keyed: prepared.message.idempotencyKey !== undefined,
      size: prepared.size ?? prepared.sizeUpperBound,
      maxBytes: this.limits.maxEncodedBytes,
    };
    const abortSignal = this.callSignal(context);
    // beginSend POSTs, then polls once: a failure of that poll must not be taken for a refused POST.
    let accepted = false;
    let last: OperationBody = {};
    let poller: Awaited<ReturnType<EmailClient['beginSend']>> | undefined;
    let pollError: unknown;
    try {
      poller = await this.client.beginSend(message, {
        operationId,
        ...(this.config.pollIntervalMs ? { updateIntervalInMs: this.config.pollIntervalMs } : {}),
        ...(abortSignal ? { abortSignal } : {}),
        // The generated LRO code drops onResponse's error argument: the status tells an answer from an error.
        onResponse: (raw) => {
          if (raw.status < 200 || raw.status > 299 || !raw.parsedBody || typeof raw.parsedBody !== 'object') return;
          if (raw.request.method === 'POST') accepted = true;
          last = raw.parsedBody as OperationBody;
        },
      });
    } catch (error) {
      if (!accepted) throw translateAcsError(error, origin, facts);
      pollError = error;
    }
    const id = last.id ?? operationId;
    const ended = () => {
      if (last.status === 'Failed' || last.status === 'Canceled') {
        throw unsuccessfulOperation(last.status, last.error, prepared.envelope.to, origin, id);
      }
    };
    const result = (status: string) => ({
      providerMessageId: id,
      accepted: prepared.envelope.to,
      rejected: [],
      details: { operationId: id, status },
    });
    ended();
    if (!this.config.waitForCompletion) return result(last.status ?? 'Running');

    const pollTimeoutMs = this.config.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    const pollTimeout = AbortSignal.timeout(pollTimeoutMs);
    try {
      if (!poller) throw pollError;
      await poller.pollUntilDone({
        abortSignal: abortSignal ? AbortSignal.any([pollTimeout, abortSignal]) : pollTimeout,
      });
      return result('Succeeded');
    } catch (error) {
      ended();
      // Accepted (202) but not known to have ended: sending it again, here or elsewhere, may deliver it twice.
      const why = pollTimeout.aborted
        ? `it had not finished after pollTimeoutMs (${pollTimeoutMs} ms)`
        : `its status could not be read (${(error as Error).message})`;
      throw new AmbiguousDeliveryError(`ACS accepted the message as operation ${id} but ${why}; it may be sent`, {
        ...origin,
        cause: error,
        providerCode: last.status ?? 'Running',
      });
    }
  }

  /**
   * Reads the status of an operation that does not exist: 404 once the request is authenticated, 401 when not.
   * EmailClient has no read-only call of its own; its generated client's getSendResult is that GET.
   */
  async verify(context: SendContext = {}): Promise<void> {
    const generated = (this.client as unknown as { generatedClient?: GeneratedClient }).generatedClient;
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

interface GeneratedClient {
  email: { getSendResult(operationId: string, options: { abortSignal?: AbortSignal }): Promise<unknown> };
}
