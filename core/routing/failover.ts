import type { Adapter, AdapterSendResult, SendContext } from '../contract/adapter.ts';
import {
  AllProvidersFailedError,
  type Attempt,
  DeadlineExceededError,
  isMailrouteError,
  type MailrouteError,
  ProviderUnavailableError,
} from '../errors.ts';
import type { PreparedMessage } from '../message/compose.ts';
import type { Logger } from '../util/log.ts';
import { sleep } from '../util/sleep.ts';
import { gate, type Skip, slot } from './attempt-gate.ts';
import { HealthTracker } from './health.ts';
import type { RateLimiter } from './rate-limit.ts';
import { nextStep, type RetryOptions } from './retry-policy.ts';
import type { Plan } from './routing.ts';

export { DEFAULT_RETRY, type RetryOptions } from './retry-policy.ts';

/**
 * What the idempotency claim does around each attempt: `begin` records that the message is being handed to the
 * adapter (and may refuse: then nothing is sent), `failed` that the attempt failed for certain.
 */
export interface AttemptHooks {
  begin(adapter: Adapter): Promise<Partial<SendContext>>;
  failed(adapter: Adapter, error: MailrouteError): Promise<void>;
}

export interface FailoverDeps {
  adapter(name: string): Promise<Adapter>;
  hooks?: AttemptHooks;
  health: HealthTracker;
  limiter(name: string): RateLimiter;
  retry: RetryOptions;
  log: Logger;
  random?: () => number;
}

export interface FailoverOutcome {
  adapter: Adapter;
  sent: AdapterSendResult;
  attempts: Attempt[];
  /** The message was not sent now: an earlier attempt was found delivered at the provider. */
  settled?: boolean;
}

/**
 * Tries the plan's providers in order. Each one first passes the gate (health, capabilities, a rate-limit slot);
 * after a failure, `nextStep` decides from the error's flags: try it again, move on, or stop. An attempt is
 * recorded with the claim before the hand-over, and every outcome is logged.
 */
export async function sendWithFailover(
  prepared: PreparedMessage,
  plan: Plan,
  deps: FailoverDeps,
  deadline?: number,
): Promise<FailoverOutcome> {
  const run = new Run(prepared, deps, deadline);
  let deadlineHit = false;
  for (const candidate of plan.candidates) {
    if (run.remaining() <= 0) {
      deadlineHit = true;
      break;
    }
    const adapter = await load(deps, candidate, run.skip);
    if (!adapter) continue;
    const limiter = deps.limiter(adapter.name);
    const maxWait = Math.min(deps.retry.maxRateWaitMs, run.remaining());
    const closed = await gate(adapter, prepared, deps.health, limiter, maxWait);
    if (closed) {
      run.skip(closed);
      continue;
    }
    const ended = await tryProvider(adapter, limiter, plan, run);
    if (ended === 'deadline') {
      deadlineHit = true;
      break;
    }
    if (ended !== 'next') return ended;
  }
  if (deadlineHit) throw new DeadlineExceededError(run.attempts);
  if (plan.candidates.length === 1 && run.errors.length === 1) {
    // One provider, one failure: its own error says more than "all providers failed".
    run.errors[0]!.attempts = run.attempts;
    throw run.errors[0];
  }
  throw new AllProvidersFailedError(run.attempts, run.errors);
}

/** One send's record: every attempt (logged as it happens), every error, and the time left. */
class Run {
  readonly attempts: Attempt[] = [];
  readonly errors: MailrouteError[] = [];
  readonly prepared: PreparedMessage;
  readonly deps: FailoverDeps;
  readonly deadline: number | undefined;

  constructor(prepared: PreparedMessage, deps: FailoverDeps, deadline: number | undefined) {
    this.prepared = prepared;
    this.deps = deps;
    this.deadline = deadline;
  }

  remaining(): number {
    return this.deadline === undefined
      ? Number.POSITIVE_INFINITY
      : this.deadline - Date.now() - this.deps.retry.safetyMarginMs;
  }

  record = (attempt: Attempt): void => {
    this.attempts.push(attempt);
    this.deps.log.info('attempt', { messageId: this.prepared.messageId, ...attempt });
  };

  skip = (skipped: Skip): void => {
    this.record(skipped.attempt);
    this.errors.push(skipped.error);
  };
}

/**
 * Tries one provider until it delivers, `nextStep` says to move on (`next`), or the time left cannot hold the wait
 * before another try (`deadline`); a stop throws the error, which is the answer.
 */
async function tryProvider(
  adapter: Adapter,
  limiter: RateLimiter,
  plan: Plan,
  run: Run,
): Promise<FailoverOutcome | 'next' | 'deadline'> {
  const { deps } = run;
  for (let attempt = 1; ; attempt++) {
    const tried = await tryOnce(adapter, run.prepared, deps, run.deadline, run.attempts);
    if ('sent' in tried) {
      run.record(tried.attempt);
      return { adapter, sent: tried.sent, attempts: run.attempts };
    }
    if ('skipped' in tried) {
      run.skip(tried.skipped);
      return 'next';
    }
    run.record(tried.attempt);
    const e = tried.error;
    const step = nextStep(e, attempt, deps.retry, plan.allowDuplicates === true, deps.random ?? Math.random);
    if (step.kind === 'stop') {
      e.attempts = run.attempts;
      throw e;
    }
    run.errors.push(e);
    if (step.kind === 'next') return 'next';
    if (step.waitMs > run.remaining()) return run.remaining() <= 0 ? 'deadline' : 'next';
    await sleep(step.waitMs);
    // A retry is one more send to the provider: it takes its own slot, so retries cannot break the pace.
    const again = await slot(adapter, limiter, Math.min(deps.retry.maxRateWaitMs, run.remaining()));
    if (again) {
      run.record(again.attempt);
      return 'next';
    }
  }
}

/**
 * The adapter of a provider entry; one that cannot be built (a missing secret) is a failed attempt, not a crash,
 * labelled with the entry's own provider and mode (the error, raised before any adapter existed, may lack them).
 */
async function load(
  deps: FailoverDeps,
  candidate: Plan['candidates'][number],
  skip: (s: Skip) => void,
): Promise<Adapter | undefined> {
  const { name } = candidate;
  try {
    return await deps.adapter(name);
  } catch (error) {
    const labels =
      candidate.provider && candidate.mode ? { provider: candidate.provider, mode: candidate.mode } : undefined;
    const e = asMailrouteError(error, name, labels);
    // Raised before the adapter existed (resolving a secret, say): the entry is still where it came from.
    if (labels && !e.provider) Object.assign(e, labels);
    const attempt: Attempt = {
      name,
      provider: candidate.provider ?? e.provider ?? '?',
      mode: candidate.mode ?? e.mode ?? 'api',
      outcome: 'failed',
      errorCode: e.code,
      error: e.toJSON(),
      latencyMs: 0,
    };
    skip({ attempt, error: e });
    return undefined;
  }
}

type Tried =
  | { sent: AdapterSendResult; attempt: Attempt }
  | { error: MailrouteError; attempt: Attempt }
  | { skipped: Skip };

/**
 * One hand-over: recorded with the claim first (a refusal there sends nothing and ends the send), then through
 * the provider's breaker. Health is told the outcome; it may not turn a delivered message into a failure.
 */
async function tryOnce(
  adapter: Adapter,
  prepared: PreparedMessage,
  deps: FailoverDeps,
  deadline: number | undefined,
  attempts: Attempt[],
): Promise<Tried> {
  const base = { name: adapter.name, provider: adapter.provider, mode: adapter.mode };
  let context: SendContext = deadline === undefined ? {} : { deadline: deadline - deps.retry.safetyMarginMs };
  try {
    // Recorded before the hand-over, so a crash from here on is never mistaken for "nothing was sent".
    if (deps.hooks) context = { ...context, ...(await deps.hooks.begin(adapter)) };
  } catch (error) {
    const e = asMailrouteError(error, adapter.name, adapter);
    e.attempts = attempts;
    throw e;
  }
  const started = Date.now();
  try {
    const sent = await deps.health.run(adapter.name, () => adapter.send(prepared, context));
    await bestEffort(deps, 'record a provider success', () => deps.health.recordSuccess(adapter.name));
    const attempt: Attempt = {
      ...base,
      outcome: 'sent',
      ...(sent.providerMessageId ? { providerMessageId: sent.providerMessageId } : {}),
      latencyMs: Date.now() - started,
    };
    return { sent, attempt };
  } catch (error) {
    if (HealthTracker.isOpenCircuit(error)) {
      const e = new ProviderUnavailableError('circuit open', { provider: adapter.provider, mode: adapter.mode });
      await deps.hooks?.failed(adapter, e);
      return { skipped: { attempt: { ...base, outcome: 'skipped', reason: 'circuit open', latencyMs: 0 }, error: e } };
    }
    const e = asMailrouteError(error, adapter.name, adapter);
    if (!e.mayHaveDelivered) await deps.hooks?.failed(adapter, e);
    await bestEffort(deps, 'record a provider failure', () =>
      deps.health.recordFailure(adapter.name, e, deps.retry.maxThrottleWaitMs),
    );
    const attempt: Attempt = {
      ...base,
      outcome: 'failed',
      errorCode: e.code,
      error: e.toJSON(),
      latencyMs: Date.now() - started,
    };
    return { error: e, attempt };
  }
}

/** Shared health is advisory: a store that fails to record it must not fail (or repeat) a send. */
async function bestEffort(deps: FailoverDeps, operation: string, call: () => Promise<void>): Promise<void> {
  try {
    await call();
  } catch (error) {
    deps.log.warn(`could not ${operation}`, { error: (error as Error)?.message });
  }
}

export function asMailrouteError(
  error: unknown,
  name: string,
  adapter?: Pick<Adapter, 'provider' | 'mode'>,
): MailrouteError {
  if (isMailrouteError(error)) return error;
  // An adapter should translate every error; one that slipped through is treated as an outage, never dropped.
  return new ProviderUnavailableError(`${name} failed: ${(error as Error)?.message ?? String(error)}`, {
    ...(adapter ? { provider: adapter.provider, mode: adapter.mode } : {}),
    cause: error,
  });
}
