import type { EmailClient } from '@azure/communication-email';
import type { AttemptRecord, Settlement } from '../../core/contract/adapter.ts';
import type { ErrorOrigin } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { repeatabilityResultOf, statusOf, translateAcsError } from './api-errors.ts';
import { operationIdFor, repeatabilityIdFor, toAcsMessage } from './api-message.ts';
import { acsResult, generatedClientOf, type OperationBody, postEmail } from './api-post.ts';
import type { RepeatabilityOptions } from './api-repeatability.ts';
import type { AzureConfig } from './config.ts';

export interface SettleDeps {
  client: EmailClient;
  config: AzureConfig;
  origin: ErrorOrigin;
  repeatability: Required<RepeatabilityOptions>;
  maxBytes: number;
  abortSignal?: AbortSignal;
}

/**
 * Settles an attempt that may have reached ACS, without a second email:
 * - while ACS still tracks its Repeatability-Request-Id (first sent less than the window, minus a margin, ago),
 *   by repeating the same request: ACS answers with the original's result (or executes it now, once, if the
 *   original never arrived); 409 says the original is still being processed;
 * - after that (or on 412), by reading the operation of its key-derived Operation-Id: one that exists was
 *   accepted; 404 means no request with that id was ever accepted.
 * Whether ACS keeps an operation's status readable for as long as a redelivery may come is not documented.
 */
export async function settleAcsAttempt(
  deps: SettleDeps,
  prepared: PreparedMessage,
  attempt: AttemptRecord,
  now: number = Date.now(),
): Promise<Settlement> {
  const requestId = attempt.token ?? repeatabilityIdFor(prepared.message);
  const key = prepared.message.idempotencyKey;
  if (!key || !requestId) {
    return { status: 'unknown', reason: 'the message has no idempotency key: its ACS operation cannot be named' };
  }
  const operationId = operationIdFor(prepared.message);
  const facts = {
    operationId,
    keyed: true,
    idempotencyKey: key,
    size: prepared.sizeUpperBound,
    maxBytes: deps.maxBytes,
  };
  const { windowMs, safetyMarginMs } = deps.repeatability;
  const age = now - attempt.firstSentAt;
  if (age < windowMs - safetyMarginMs) {
    const outcome = await postEmail(deps.client, toAcsMessage(prepared, deps.config), {
      operationId,
      repeatability: { requestId, firstSentAt: attempt.firstSentAt },
      ...(deps.abortSignal ? { abortSignal: deps.abortSignal } : {}),
    });
    if (outcome.accepted) return fromOperation(prepared, outcome.last, operationId);
    const status = statusOf(outcome.error);
    if (status === 409) {
      return { status: 'in-progress', reason: `ACS is still processing request ${requestId} (409)` };
    }
    if (status === 400 && repeatabilityResultOf(outcome.error) === 'accepted') {
      // The original's own 4xx, replayed (or this request's, run now): ACS refused the message itself.
      const refused = translateAcsError(outcome.error, deps.origin, facts);
      return { status: 'not-delivered', reason: `ACS refused the request: ${refused.message}` };
    }
    if (status !== 412) return failure(outcome.error, deps, facts);
  }
  const generated = generatedClientOf(deps.client);
  if (!generated) return { status: 'unknown', reason: 'this EmailClient cannot read an operation' };
  try {
    const operation = await generated.email.getSendResult(
      operationId,
      deps.abortSignal ? { abortSignal: deps.abortSignal } : {},
    );
    return fromOperation(prepared, operation, operationId);
  } catch (error) {
    if (statusOf(error) === 404) {
      return { status: 'not-delivered', reason: `ACS has no operation ${operationId}: no attempt was accepted` };
    }
    return failure(error, deps, facts);
  }
}

function fromOperation(prepared: PreparedMessage, operation: OperationBody, operationId: string): Settlement {
  const id = operation.id ?? operationId;
  const status = operation.status ?? 'Running';
  if (status === 'Succeeded' || status === 'Running' || status === 'NotStarted') {
    return { status: 'delivered', sent: acsResult(prepared, id, status) };
  }
  if (status === 'Failed' || status === 'Canceled') {
    const detail = operation.error ? ` (${operation.error.code}: ${operation.error.message})` : '';
    return { status: 'not-delivered', reason: `ACS operation ${id} ended ${status}${detail}` };
  }
  return { status: 'unknown', reason: `ACS operation ${id} has a status this adapter does not know: ${status}` };
}

/** ACS could not be asked (unreachable, 5xx, throttled): thrown, to settle later; any other answer is unknown. */
function failure(error: unknown, deps: SettleDeps, facts: Parameters<typeof translateAcsError>[2]): Settlement {
  const translated = translateAcsError(error, deps.origin, facts);
  if (translated.retryable) throw translated;
  return { status: 'unknown', reason: translated.message };
}
