import type { Adapter, AttemptRecord, SendContext, Settlement } from '../contract/adapter.ts';
import { AmbiguousDeliveryError, type Attempt, type MailrouteError, SendInProgressError } from '../errors.ts';
import type { PreparedMessage } from '../message/compose.ts';
import { type AttemptHooks, asMailrouteError, type FailoverOutcome } from '../routing/failover.ts';
import type { Plan } from '../routing/routing.ts';
import type { Logger } from '../util/log.ts';
import type { Claim } from './idempotency.ts';

export interface SettleDeps {
  adapter(name: string): Promise<Adapter>;
  log: Logger;
  safetyMarginMs: number;
}

/** How long after a redelivery first found an attempt unresolved it may keep asking the provider. */
export const SETTLE_WITHIN_MS = 60_000;

/** The claim's side of each attempt: recorded before the hand-over, cleared after a certain failure. */
export function claimHooks(claim: Claim, prepared: PreparedMessage): AttemptHooks {
  return {
    async begin(adapter) {
      const attempt = await claim.beginAttempt(adapter, adapter.idempotencyToken?.(prepared));
      return { firstSentAt: attempt.firstSentAt };
    },
    failed: () => claim.attemptFailed(),
  };
}

/** The facts of an ambiguous record's error that a new AmbiguousDeliveryError carries on. */
export function ambiguousFacts(error: Record<string, unknown>): { attempt?: Record<string, unknown> } {
  const attempt = error.attempt;
  return attempt && typeof attempt === 'object' ? { attempt: attempt as Record<string, unknown> } : {};
}

/**
 * A redelivery found an attempt whose sender's lease ran out (it crashed, or hung): asks the provider what
 * became of it. Delivered: the outcome to record and answer. Not delivered: undefined, and the caller sends it.
 * Still in progress, or a provider that cannot answer yet: retry later (for at most `SETTLE_WITHIN_MS`). Unknown:
 * declared ambiguous (recorded, thrown), unless the route accepts duplicates.
 */
export async function settleAttempt(
  deps: SettleDeps,
  claim: Claim,
  attempt: AttemptRecord,
  prepared: PreparedMessage,
  plan: Plan,
  deadline: number,
): Promise<FailoverOutcome | undefined> {
  const started = Date.now();
  const patient = started - (claim.record.unresolvedSince ?? started) < SETTLE_WITHIN_MS;
  const { adapter, settlement } = await askPatiently(deps, claim, attempt, prepared, deadline, patient);
  deps.log.info('settled an earlier attempt', { idempotencyKey: claim.key, attempt, settlement: settlement.status });
  switch (settlement.status) {
    case 'delivered':
      return {
        adapter: adapter!,
        sent: settlement.sent,
        attempts: [settledAttempt(attempt, settlement, Date.now() - started)],
        settled: true,
      };
    case 'not-delivered':
      // Sent anew: a first-sent time from the old attempt would make a repeatable request stale (refused as too old).
      await claim.attemptFailed({ forgetFirstSent: true });
      return undefined;
    case 'in-progress':
      if (patient) {
        throw new SendInProgressError(claim.key, undefined, {
          reason: `the earlier attempt on ${attempt.name} is still in progress at the provider (${settlement.reason}); retry later`,
        });
      }
      break;
    case 'unknown':
      break;
  }
  if (plan.allowDuplicates) {
    deps.log.warn('earlier attempt unsettled; sending again (the route accepts duplicates)', {
      idempotencyKey: claim.key,
      attempt,
    });
    await claim.attemptFailed({ forgetFirstSent: true });
    return undefined;
  }
  const error = new AmbiguousDeliveryError(
    `an earlier send with idempotency key "${claim.key}" was handed to ${attempt.name} (${attempt.provider}, ${attempt.mode} mode) at ${new Date(attempt.startedAt).toISOString()} and its sender stopped before knowing the outcome; ${settlement.reason}; not sending again`,
    { attempt: { ...attempt }, provider: attempt.provider, mode: attempt.mode },
  );
  await claim.markAmbiguous(error);
  throw error;
}

/**
 * The provider's answer; a provider that cannot answer yet (unreachable, throttled) is asked again later while
 * the settling is young, and counts as "cannot tell" after that.
 */
async function askPatiently(
  deps: SettleDeps,
  claim: Claim,
  attempt: AttemptRecord,
  prepared: PreparedMessage,
  deadline: number,
  patient: boolean,
): Promise<{ adapter?: Adapter; settlement: Settlement }> {
  let adapter: Adapter | undefined;
  try {
    adapter = await deps.adapter(attempt.name);
    return { adapter, settlement: await ask(adapter, attempt, prepared, deadline - deps.safetyMarginMs) };
  } catch (error) {
    const e = asMailrouteError(error, attempt.name, adapter);
    if (e.retryable && patient) {
      throw new SendInProgressError(claim.key, undefined, {
        reason: `could not settle the earlier attempt on ${attempt.name} yet (${e.code}: ${e.message}); retry later`,
      });
    }
    return { ...(adapter ? { adapter } : {}), settlement: { status: 'unknown', reason: `${e.code}: ${e.message}` } };
  }
}

/**
 * Right after an ambiguous failure in this process: asks the provider once. A delivered answer is the outcome;
 * `in-progress` (the provider is still working on it) leaves it for a redelivery to settle; anything else is
 * declared ambiguous by the caller: the provider may not have finished with a request cut a moment ago, so "not
 * found" now proves nothing.
 */
export async function settleNow(
  deps: SettleDeps,
  attempt: AttemptRecord,
  error: MailrouteError,
  prepared: PreparedMessage,
  deadline: number,
): Promise<FailoverOutcome | 'in-progress' | undefined> {
  const started = Date.now();
  try {
    const adapter = await deps.adapter(attempt.name);
    if (!adapter.settle) return undefined;
    const settlement = await ask(adapter, attempt, prepared, deadline - deps.safetyMarginMs);
    if (settlement.status === 'in-progress') return 'in-progress';
    if (settlement.status !== 'delivered') return undefined;
    const attempts = [...(error.attempts ?? []), settledAttempt(attempt, settlement, Date.now() - started)];
    return { adapter, sent: settlement.sent, attempts, settled: true };
  } catch {
    return undefined;
  }
}

function ask(
  adapter: Adapter,
  attempt: AttemptRecord,
  prepared: PreparedMessage,
  deadline: number,
): Promise<Settlement> {
  if (!adapter.settle) {
    return Promise.resolve({
      status: 'unknown',
      reason: `${adapter.provider} in ${adapter.mode} mode can neither repeat a request safely nor look a sent message up`,
    });
  }
  const context: SendContext = { deadline, firstSentAt: attempt.firstSentAt };
  return adapter.settle(prepared, attempt, context);
}

function settledAttempt(
  attempt: AttemptRecord,
  settlement: Extract<Settlement, { status: 'delivered' }>,
  latencyMs: number,
): Attempt {
  return {
    name: attempt.name,
    provider: attempt.provider,
    mode: attempt.mode,
    outcome: 'sent',
    reason: `settled: the attempt of ${new Date(attempt.startedAt).toISOString()} was delivered`,
    ...(settlement.sent.providerMessageId ? { providerMessageId: settlement.sent.providerMessageId } : {}),
    latencyMs,
  };
}
