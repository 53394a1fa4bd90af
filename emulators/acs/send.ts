import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type AcsAnswer, acsError, acsJson } from './errors.ts';
import type { RepeatabilityTracker } from './repeatability.ts';
import type { AcsStore, OutcomePlan } from './store.ts';
import { validateEmailMessage } from './validate.ts';

export interface SendContext {
  store: AcsStore;
  outcomes: OutcomePlan;
  repeatability: RepeatabilityTracker;
  options: { maxRecipients: number; notStartedPolls: number; runningPolls: number; retryAfterSeconds: number };
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `POST /emails:send` once authenticated and versioned: repeatability first, then the send itself.
 * `processing` is the time the service spends on the request (an injected latency): a repeatable request is
 * in progress (409 to its repeats) during it, and the send completes after it whether or not the client waited.
 */
export async function acceptSend(
  context: SendContext,
  req: IncomingMessage,
  body: Buffer,
  apiVersion: string,
  processing: () => Promise<void>,
): Promise<AcsAnswer> {
  const decision = context.repeatability.begin(req.headers, body);
  if (decision.kind === 'answer') return decision.answer;
  await processing();
  const answer = send(context, req, body, apiVersion);
  return decision.kind === 'execute' ? decision.finish(answer) : answer;
}

function send(context: SendContext, req: IncomingMessage, body: Buffer, apiVersion: string): AcsAnswer {
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch {
    return acsError(400, { code: 'BadRequest', message: 'The request body is not valid JSON.' });
  }
  const headerId = req.headers['operation-id'];
  const operationIdHeader = typeof headerId === 'string' ? headerId : undefined;
  if (operationIdHeader !== undefined && !uuid.test(operationIdHeader)) {
    return acsError(400, { code: 'BadRequest', message: 'Operation-Id must be a UUID.', target: 'Operation-Id' });
  }
  const operationLocation = (id: string) =>
    `http://${req.headers.host}/emails/operations/${encodeURIComponent(id)}?api-version=${apiVersion}`;
  const retryAfter = String(context.options.retryAfterSeconds);
  // Whether the service de-duplicates on Operation-Id is unverified. The spec makes it the operation's id,
  // so the emulator treats a repeat as the same operation: it answers with that operation's current state
  // and does not store the email again (even if the body differs), which is what a retrying client needs.
  if (operationIdHeader !== undefined && context.store.repeat(operationIdHeader)) {
    const existing = context.store.peek(operationIdHeader)!;
    return acsJson(202, existing, { 'operation-location': operationLocation(existing.id), 'retry-after': retryAfter });
  }
  const problem = validateEmailMessage(message, apiVersion, { maxRecipients: context.options.maxRecipients });
  if (problem) return acsError(400, problem);

  const email = message as Record<string, unknown> & { recipients: Record<string, { address: string }[] | undefined> };
  const { to = [], cc = [], bcc = [] } = email.recipients;
  const operationId = operationIdHeader ?? randomUUID();
  const outcome = context.outcomes.take([...to, ...cc, ...bcc].map((r) => r.address));
  const { notStartedPolls, runningPolls } = context.options;
  const stored = {
    operationId,
    apiVersion,
    body: email,
    headers: { ...req.headers },
    receivedAt: new Date(),
    repeats: 0,
  };
  context.store.accept(
    operationIdHeader ? { ...stored, operationIdHeader } : stored,
    { notStartedPolls, runningPolls },
    outcome,
  );
  const state = context.store.peek(operationId)!;
  return acsJson(202, state, { 'operation-location': operationLocation(operationId), 'retry-after': retryAfter });
}
