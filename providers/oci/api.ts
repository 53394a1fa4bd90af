import type { EmailDPClient } from 'oci-emaildataplane';
import { resolveSecret } from '../../core/config/schema.ts';
import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import { configuredLimits } from '../../core/contract/adapter.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import {
  ConfigurationError,
  RecipientRejectedError,
  type RejectedRecipient,
  TransientError,
} from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { callSignal, deadlinePassed } from '../../core/util/deadline.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../http/connect-watch.ts';
import { FetchConnectWatch } from '../http/fetch-watch.ts';
import { unsentFailure } from '../http/unsent.ts';
import { createOciEmailClient, type OciApiKeyMaterial, withCallSignal } from './api-client.ts';
import { lostAnswer, mapOciError } from './api-errors.ts';
import { fitsSubmitEmail, submitEmailDetails, submitRawEmailRequest } from './api-request.ts';
import type { OciConfig } from './config.ts';
import { oci } from './index.ts';

const SUPPRESSED = 'on the suppression list of OCI Email Delivery';

/**
 * OCI Email Delivery API mode: submitEmail (structured) when the message has no attachment, else
 * submitRawEmail with the composed MIME. Both carry the composed Message-ID, so a retry is recognizable.
 */
export class OciApiAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'oci';
  readonly mode = 'api' as const;
  readonly capabilities: Capabilities = oci.modes.api.capabilities;
  readonly limits: Limits;
  readonly name: string;
  private readonly compartmentId: string;
  private readonly client: EmailDPClient;
  private readonly connectTimeoutMs: number;

  constructor(config: OciConfig) {
    this.name = config.name;
    this.limits = configuredLimits(oci.modes.api.limits, config.limits);
    if (!config.compartmentId) throw unvalidatedEntry(config, 'compartmentId');
    this.compartmentId = config.compartmentId;
    this.connectTimeoutMs = config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.client = createOciEmailClient(config, config.auth === 'resourcePrincipal' ? undefined : apiKeyOf(config));
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const origin = { provider: this.provider, mode: this.mode };
    if (deadlinePassed(context)) throw this.timedOut(context);
    const structured = fitsSubmitEmail(prepared);
    // Built outside the try: a message the raw path cannot sign is refused as it is, not as a provider fault.
    const raw = structured ? undefined : submitRawEmailRequest(prepared, this.compartmentId, await prepared.mime());
    let submitted: { messageId?: string; envelopeId: string; suppressed: string[]; opcRequestId?: string };
    const watch = this.watch();
    try {
      submitted = await this.call(watch, context, async () => {
        if (raw) {
          const res = await this.client.submitRawEmail(raw);
          const body = res.emailRawSubmittedResponse;
          return { ...body, suppressed: body.suppressedRecipients, opcRequestId: res.opcRequestId };
        }
        const details = submitEmailDetails(prepared, this.compartmentId);
        const res = await this.client.submitEmail({ submitEmailDetails: details });
        const body = res.emailSubmittedResponse;
        const suppressed = body.suppressedRecipients.map((a) => a.email);
        return { ...body, suppressed, opcRequestId: res.opcRequestId };
      });
    } catch (error) {
      // An answer that arrived is mapped as it is, even when the deadline passed meanwhile.
      if (!answered(error)) {
        const unsent = unsentFailure(error, watch, 'OCI Email Delivery', origin);
        if (unsent) throw unsent;
        if (watch.sent) throw lostAnswer(error, origin, deadlinePassed(context));
        if (deadlinePassed(context)) throw this.timedOut(context, error);
      }
      throw mapOciError(error, origin, {
        size: prepared.size ?? prepared.sizeUpperBound,
        limit: this.limits.maxEncodedBytes,
      });
    }
    const suppressed = new Set(submitted.suppressed.map((a) => a.toLowerCase()));
    const rejected: RejectedRecipient[] = prepared.envelope.to
      .filter((a) => suppressed.has(a.toLowerCase()))
      .map((address) => ({ address, reason: SUPPRESSED, providerCode: 'Suppressed' }));
    const accepted = prepared.envelope.to.filter((a) => !suppressed.has(a.toLowerCase()));
    if (accepted.length === 0) throw new RecipientRejectedError(rejected, origin);
    return {
      providerMessageId: submitted.envelopeId,
      accepted,
      rejected,
      details: {
        operation: raw ? 'submitRawEmail' : 'submitEmail',
        envelopeId: submitted.envelopeId,
        messageId: submitted.messageId,
        opcRequestId: submitted.opcRequestId,
      },
    };
  }

  /** Per call: tells a request that never went out (nothing sent) from one whose answer was lost. */
  private watch(): FetchConnectWatch {
    return new FetchConnectWatch(this.client.endpoint, this.connectTimeoutMs);
  }

  /** Runs one SDK call under the deadline and the watch's connect timeout. */
  private call<T>(watch: FetchConnectWatch, context: SendContext, call: () => Promise<T>): Promise<T> {
    const deadline = callSignal(context);
    const signal = deadline ? AbortSignal.any([deadline, watch.signal]) : watch.signal;
    return watch.run(() => withCallSignal(signal, call));
  }

  private timedOut(context: SendContext, cause?: unknown): TransientError {
    const why = context.signal?.aborted ? 'the send was aborted' : 'no answer before the deadline';
    return new TransientError(`OCI Email Delivery: ${why}`, { provider: this.provider, mode: this.mode, cause });
  }

  /**
   * The submission API has no read-only call, so this submits an empty SubmitEmailDetails: the service checks
   * the signature before the body, so 400 proves the key and 401/404 disproves it; without recipients nothing
   * can be sent.
   */
  async verify(context: SendContext = {}): Promise<void> {
    const origin = { provider: this.provider, mode: this.mode };
    const watch = this.watch();
    try {
      const empty = {} as Parameters<EmailDPClient['submitEmail']>[0]['submitEmailDetails'];
      await this.call(watch, context, () => this.client.submitEmail({ submitEmailDetails: empty }));
    } catch (error) {
      if ((error as { statusCode?: number } | null)?.statusCode === 400) return;
      const unsent = answered(error) ? undefined : unsentFailure(error, watch, 'OCI Email Delivery', origin);
      if (unsent) throw unsent;
      if (!answered(error) && deadlinePassed(context)) throw this.timedOut(context, error);
      throw mapOciError(error, origin, { size: 0, limit: 0 });
    }
    throw new ConfigurationError(
      'OCI Email Delivery accepted an empty submission: is the endpoint really OCI?',
      origin,
    );
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The service answered (an OciError with a status), as opposed to a failed or aborted fetch. */
const answered = (error: unknown) => typeof (error as { statusCode?: unknown } | null)?.statusCode === 'number';

/** The entry's API key with its secrets resolved from the environment (also used by `deliverability.ts`). */
export function apiKeyOf(config: OciConfig): OciApiKeyMaterial | undefined {
  const key = config.apiKey;
  if (!key) return undefined;
  return {
    tenancy: key.tenancy,
    user: key.user,
    fingerprint: key.fingerprint,
    // A PEM stored in an environment variable often keeps its newlines escaped.
    privateKey: resolveSecret(key.privateKey, 'apiKey.privateKey').replace(/\\n/g, '\n'),
    passphrase: key.passphrase ? resolveSecret(key.passphrase, 'apiKey.passphrase') : undefined,
  };
}
