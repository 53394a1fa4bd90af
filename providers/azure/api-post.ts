import type { EmailClient, EmailMessage } from '@azure/communication-email';
import type { AdapterSendResult } from '../../core/contract/adapter.ts';
import { AmbiguousDeliveryError, type ErrorOrigin } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import type { ConnectWatch } from '../http/connect-watch.ts';
import { unsuccessfulOperation } from './api-errors.ts';
import { type RepeatabilityHeaders, withAcsCall } from './api-repeatability.ts';

/** The operation's state as the service last reported it (the 202 or a poll). */
export interface OperationBody {
  id?: string;
  status?: string;
  error?: { code?: string; message?: string };
}

export type SendPoller = Awaited<ReturnType<EmailClient['beginSend']>>;

export interface PostOutcome {
  /** The POST was answered 2xx: ACS has the message. */
  accepted: boolean;
  last: OperationBody;
  poller?: SendPoller;
  /** What beginSend threw: the POST's failure when not accepted, else the failure of its first poll. */
  error?: unknown;
}

export interface PostOptions {
  operationId: string;
  repeatability?: RepeatabilityHeaders;
  /** Where the connections the POST (and its first poll) open report: one that never connected sent nothing. */
  watch?: ConnectWatch;
  pollIntervalMs?: number;
  abortSignal?: AbortSignal;
}

/**
 * `EmailClient.beginSend`: the POST, then one poll. A failure of that poll must not be taken for a refused POST,
 * so the outcome says which of the two answered.
 */
export async function postEmail(
  client: EmailClient,
  message: EmailMessage,
  options: PostOptions,
): Promise<PostOutcome> {
  const outcome: PostOutcome = { accepted: false, last: {} };
  try {
    const call = {
      ...(options.repeatability ? { repeatability: options.repeatability } : {}),
      ...(options.watch ? { watch: options.watch } : {}),
    };
    outcome.poller = await withAcsCall(call, (requestOptions) =>
      client.beginSend(message, {
        operationId: options.operationId,
        requestOptions,
        ...(options.pollIntervalMs ? { updateIntervalInMs: options.pollIntervalMs } : {}),
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
        // The generated LRO code drops onResponse's error argument: the status tells an answer from an error.
        onResponse: (raw) => {
          if (raw.status < 200 || raw.status > 299 || !raw.parsedBody || typeof raw.parsedBody !== 'object') return;
          if (raw.request.method === 'POST') outcome.accepted = true;
          outcome.last = raw.parsedBody as OperationBody;
        },
      }),
    );
  } catch (error) {
    outcome.error = error;
  }
  return outcome;
}

/** The adapter's result for an operation ACS has, its id as the provider's message id. */
export function acsResult(prepared: PreparedMessage, operationId: string, status: string): AdapterSendResult {
  return {
    providerMessageId: operationId,
    accepted: prepared.envelope.to,
    rejected: [],
    details: { operationId, status },
  };
}

/**
 * The result of an accepted send: at once (the operation as the 202 or the first poll reported it), or with
 * `pollTimeoutMs` after polling until the operation ended. Failed and Canceled are errors of their own.
 */
export async function completeSend(
  prepared: PreparedMessage,
  outcome: PostOutcome,
  operationId: string,
  origin: ErrorOrigin,
  wait: { pollTimeoutMs?: number; abortSignal?: AbortSignal },
): Promise<AdapterSendResult> {
  const { poller } = outcome;
  const id = outcome.last.id ?? operationId;
  // Every poll replaces outcome.last (onResponse): read it afresh.
  const ended = () => {
    const { status, error } = outcome.last;
    if (status === 'Failed' || status === 'Canceled') {
      throw unsuccessfulOperation(status, error, prepared.envelope.to, origin, id);
    }
  };
  ended();
  if (wait.pollTimeoutMs === undefined) return acsResult(prepared, id, outcome.last.status ?? 'Running');
  const pollTimeout = AbortSignal.timeout(wait.pollTimeoutMs);
  try {
    if (!poller) throw outcome.error;
    await poller.pollUntilDone({
      abortSignal: wait.abortSignal ? AbortSignal.any([pollTimeout, wait.abortSignal]) : pollTimeout,
    });
    return acsResult(prepared, id, 'Succeeded');
  } catch (error) {
    ended();
    // Accepted (202) but not known to have ended: sending it again, here or elsewhere, may deliver it twice.
    const why = pollTimeout.aborted
      ? `it had not finished after pollTimeoutMs (${wait.pollTimeoutMs} ms)`
      : `its status could not be read (${(error as Error).message})`;
    throw new AmbiguousDeliveryError(`ACS accepted the message as operation ${id} but ${why}; it may be sent`, {
      ...origin,
      cause: error,
      providerCode: outcome.last.status ?? 'Running',
    });
  }
}

interface GeneratedClient {
  email: { getSendResult(operationId: string, options: { abortSignal?: AbortSignal }): Promise<OperationBody> };
}

/** EmailClient has no read-only call of its own; its generated client's getSendResult is the operation GET. */
export function generatedClientOf(client: EmailClient): GeneratedClient | undefined {
  return (client as unknown as { generatedClient?: GeneratedClient }).generatedClient;
}
