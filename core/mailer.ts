import { MemoryStore } from '../stores/memory.ts';
import type { StateStore } from '../stores/store.ts';
import { type MailrouteConfig, type ProviderConfig, validateConfig } from './config/schema.ts';
import type { Adapter, SendContext, SendResult } from './contract/adapter.ts';
import type { ProviderRegistry } from './contract/provider-registry.ts';
import {
  AmbiguousDeliveryError,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  SendInProgressError,
  type SuppressedRecipient,
} from './errors.ts';
import { MailEvents } from './events/mail-events.ts';
import { withManagedUnsubscribe } from './events/unsubscribe.ts';
import { type PreparedMessage, prepareMessage } from './message/compose.ts';
import type { NormalizedMessage } from './message/message.ts';
import { normalizeMessage as validateAndNormalize } from './message/validate.ts';
import { DEFAULT_RETRY, type FailoverOutcome, type RetryOptions, sendWithFailover } from './routing/failover.ts';
import { HealthTracker } from './routing/health.ts';
import { RateLimiter } from './routing/rate-limit.ts';
import { type Plan, planRoute } from './routing/routing.ts';
import { checkSender } from './routing/senders.ts';
import { type Claim, IdempotencyGuard, payloadHash } from './state/idempotency.ts';
import { ambiguousFacts, claimHooks, type SettleDeps, settleAttempt, settleNow } from './state/settle.ts';
import { type Logger, silentLogger } from './util/log.ts';

/** Builds the adapter for one provider entry. Injected, so `core/` imports nothing from `providers/`. */
export type AdapterFactory = (config: ProviderConfig, mailroute: MailrouteConfig) => Adapter | Promise<Adapter>;

export interface SendOptions extends SendContext {
  /** Send through this provider entry only, bypassing routes. */
  provider?: string;
  /** Send through this route (a route named in the message wins). */
  route?: string;
  /** Used when the message has none, e.g. the queue message id, so a redelivery is recognized. */
  idempotencyKey?: string;
}

export interface MailerOptions {
  /** Where health, rate limits and idempotency records live; default: this process's memory. */
  store?: StateStore;
  /** `close()` closes the store too (its connections): for a store built for this mailer alone. */
  ownsStore?: boolean;
  logger?: Logger;
  random?: () => number;
  /**
   * The providers the configuration may name (`providers/index.ts` has the built-in ones). Given, the
   * configuration is validated against it when the mailer is built, and every message's `providerOptions`
   * before routing; without it, options are checked by the adapters that read them.
   */
  providers?: ProviderRegistry;
  /**
   * Where the suppression list, event correlation and counts live; default: `store`. The CLI and `serve` give a
   * local file (`.mailroute/state.json`) when the configuration names no store, so they share one list.
   */
  eventsStore?: StateStore;
}

export interface VerifyReport {
  name: string;
  provider: string;
  mode: string;
  ok: boolean;
  error?: Record<string, unknown>;
}

/**
 * Validates, composes once, picks a route, and sends with failover; records the idempotency key before and
 * the result after, so a retried or redelivered message is never sent twice.
 *
 * @example
 * const mailer = new Mailer(loadConfig().config, createAdapter, { providers: builtInProviders });
 * const result = await mailer.send({ from: 'a@example.com', to: 'b@example.com', subject: 'Hi', text: 'Hello' });
 */
export class Mailer {
  readonly config: MailrouteConfig;
  readonly health: HealthTracker;
  /** The suppression list, the correlation of events to sends, and their counts. */
  readonly events: MailEvents;
  private readonly createAdapter: AdapterFactory;
  private readonly adapters = new Map<string, Promise<Adapter>>();
  private readonly limiters = new Map<string, RateLimiter>();
  private readonly store: StateStore;
  private readonly sharedStore: boolean;
  private readonly ownsStore: boolean;
  private readonly idempotency: IdempotencyGuard;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly retry: RetryOptions;
  private readonly providers: ProviderRegistry | undefined;

  constructor(config: MailrouteConfig, createAdapter: AdapterFactory, options: MailerOptions = {}) {
    // A configuration loaded without the registry (a function's cold start) has its providers' fields checked here.
    this.config = options.providers ? validateConfig(config, 'configuration', options.providers) : config;
    this.providers = options.providers;
    this.createAdapter = createAdapter;
    this.sharedStore = options.store !== undefined;
    this.ownsStore = options.ownsStore === true;
    const memory = this.config.store?.type === 'memory' ? this.config.store : undefined;
    this.store =
      options.store ?? new MemoryStore(memory?.maxRecords === undefined ? {} : { maxRecords: memory.maxRecords });
    this.log = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.health = new HealthTracker(this.store, config.health);
    this.retry = { ...DEFAULT_RETRY, ...config.retry };
    this.events = new MailEvents(options.eventsStore ?? this.store, config, this.log);
    const { completedTtlSeconds, clockSkewToleranceMs } = config.idempotency ?? {};
    this.idempotency = new IdempotencyGuard(this.store, {
      log: this.log,
      ...(completedTtlSeconds ? { completedTtlMs: completedTtlSeconds * 1000 } : {}),
      ...(clockSkewToleranceMs === undefined ? {} : { clockSkewToleranceMs }),
    });
  }

  /** The adapter of one provider entry (default: `defaultProvider`, else the first), built on first use. */
  adapter(name?: string): Promise<Adapter> {
    const wanted = name ?? this.config.defaultProvider ?? this.config.providers[0]!.name;
    let adapter = this.adapters.get(wanted);
    if (!adapter) {
      const entry = this.config.providers.find((p) => p.name === wanted);
      if (!entry) return Promise.reject(new Error(`no provider entry is named "${wanted}"`));
      adapter = Promise.resolve().then(() => this.createAdapter(entry, this.config));
      // A factory failure (a missing secret) is not cached: the next send tries again.
      adapter.catch(() => this.adapters.delete(wanted));
      this.adapters.set(wanted, adapter);
    }
    return adapter;
  }

  names(): string[] {
    return this.config.providers.map((p) => p.name);
  }

  private limiter(name: string): RateLimiter {
    let limiter = this.limiters.get(name);
    if (!limiter) {
      const rules = this.config.providers.find((p) => p.name === name)?.rateLimits ?? [];
      limiter = new RateLimiter(name, rules, this.sharedStore ? this.store : undefined, { log: this.log });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  /** Which route and providers a message would use, and why, without sending it. */
  explain(input: unknown, options: SendOptions = {}): Plan & { health: Record<string, string> } {
    const message = normalizeMessage(input, this.providers);
    checkSender(this.config, message, options);
    const plan = preparing('routed', () => planRoute(this.config, message, { ...options, random: this.random }));
    const health = Object.fromEntries(plan.candidates.map((c) => [c.name, this.health.state(c.name)]));
    return { ...plan, health };
  }

  async send(input: unknown, options: SendOptions = {}): Promise<SendResult> {
    const started = performance.now();
    const message = withManagedUnsubscribe(normalizeMessage(input, this.providers), this.config);
    // Before the idempotency claim and the suppression screen: a sender refused here leaves no trace in the store.
    checkSender(this.config, message, options);
    message.idempotencyKey ??= options.idempotencyKey;
    const validateMs = performance.now() - started;
    const key = message.idempotencyKey;
    // Before routing, so that no provider the route may pick mails a recipient suppressed on any of them.
    const suppressed = await this.events.screen(message);
    if (!key) {
      const { prepared, plan } = this.prepare(message, options);
      const outcome = await this.dispatch(prepared, plan, options.deadline);
      const result = this.resultOf(prepared, plan, outcome, started, validateMs, suppressed);
      await this.events.recordSent(result, undefined);
      return result;
    }
    // The claim's lease bounds the whole send: with no deadline, the lease is the deadline.
    const leaseMs = options.deadline
      ? Math.max(1_000, options.deadline - Date.now())
      : (this.config.idempotency?.inProgressTtlMs ?? 60_000);
    const deadline = options.deadline ?? Date.now() + leaseMs;
    const hash = preparing('hashed', () => payloadHash(input));
    const begun = await this.idempotency.begin(key, hash, leaseMs);
    if (begun.kind === 'completed') {
      this.log.info('duplicate', { idempotencyKey: key, messageId: begun.result.messageId });
      return { ...begun.result, duplicate: true };
    }
    if (begun.kind === 'ambiguous') {
      throw new AmbiguousDeliveryError(
        `an earlier send with idempotency key "${key}" may have been delivered (${String(begun.error.message ?? 'ambiguous')}); not sending again`,
        ambiguousFacts(begun.error),
      );
    }
    const { claim } = begun;
    let prepared: PreparedMessage;
    let plan: Plan;
    try {
      ({ prepared, plan } = this.prepare(message, options));
    } catch (error) {
      if (begun.kind === 'new') await claim.release();
      throw error;
    }
    let outcome: FailoverOutcome | undefined;
    if (begun.kind === 'unresolved') {
      // Undefined when the provider certainly does not have it (or the route accepts duplicates): sent now.
      outcome = await settleAttempt(this.settling(), claim, begun.attempt, prepared, plan, deadline);
    }
    try {
      outcome ??= await this.dispatch(prepared, plan, deadline, claim);
    } catch (error) {
      outcome = await this.afterFailure(error, claim, prepared, plan, deadline);
    }
    const result = this.resultOf(prepared, plan, outcome, started, validateMs, suppressed);
    const warnings = await claim.complete(result, deadline);
    await this.events.recordSent(result, key);
    return warnings.length ? { ...result, warnings } : result;
  }

  /**
   * Prepares a valid message (its MIME composed later, on first use) and picks its route. Whatever that throws
   * outside the project's errors is an invalid message (see `preparing`), the lazy composition included.
   */
  private prepare(message: NormalizedMessage, options: SendOptions): { prepared: PreparedMessage; plan: Plan } {
    return preparing('prepared', () => {
      const prepared = composedOrInvalid(prepareMessage(message));
      const plan = planRoute(this.config, message, { ...options, random: this.random });
      return { prepared, plan };
    });
  }

  /**
   * Sends with failover. A send that failed because the MIME could not be composed fails with that composition's
   * `InvalidMessageError` (an adapter reports it as its own failure, as if the provider were down): every provider
   * that takes MIME would fail the same way on every retry. One that may have delivered keeps its own error.
   */
  private async dispatch(
    prepared: PreparedMessage,
    plan: Plan,
    deadline?: number,
    claim?: Claim,
  ): Promise<FailoverOutcome> {
    try {
      return await sendWithFailover(
        prepared,
        plan,
        {
          adapter: (name) => this.adapter(name),
          health: this.health,
          limiter: (name) => this.limiter(name),
          retry: this.retry,
          log: this.log,
          random: this.random,
          ...(claim ? { hooks: claimHooks(claim, prepared) } : {}),
        },
        deadline,
      );
    } catch (error) {
      const composition = compositionFailures.get(prepared);
      if (!composition || (isMailrouteError(error) && error.mayHaveDelivered)) throw error;
      const attempts = isMailrouteError(error) ? error.attempts : undefined;
      throw attempts ? Object.assign(composition, { attempts }) : composition;
    }
  }

  /**
   * A send that failed under a claim: an ambiguous one is settled at once when its provider can tell (a
   * repeatable request, a lookup), left for a redelivery to settle when the provider is still working on it, else
   * recorded as ambiguous; anything else sent nothing and frees the key.
   */
  private async afterFailure(
    error: unknown,
    claim: Claim,
    prepared: PreparedMessage,
    plan: Plan,
    deadline: number,
  ): Promise<FailoverOutcome> {
    if (!(isMailrouteError(error) && error.mayHaveDelivered)) {
      // A claim whose attempt is still recorded is kept, for a redelivery to settle: the store failed to clear a
      // definite failure. On a route that accepts duplicates, an ambiguous attempt failed over from is no reason.
      if (!claim.attempt || plan.allowDuplicates) await claim.release();
      throw error;
    }
    const attempt = claim.attempt;
    if (attempt) {
      const settled = await settleNow(this.settling(), attempt, error, prepared, deadline);
      if (settled === 'in-progress') {
        throw Object.assign(
          new SendInProgressError(claim.key, undefined, {
            reason: `${error.message}; ${attempt.name} is still working on it: a redelivery settles it with the provider`,
            ...(error.provider ? { provider: error.provider } : {}),
            ...(error.mode ? { mode: error.mode } : {}),
          }),
          { attempts: error.attempts },
        );
      }
      if (settled) return settled;
    }
    const facts = attempt ? { attempt: { ...attempt } } : {};
    const declared = Object.assign(
      new AmbiguousDeliveryError(error.message, {
        ...facts,
        ...(error.provider ? { provider: error.provider } : {}),
        ...(error.mode ? { mode: error.mode } : {}),
        ...(error.providerCode !== undefined ? { providerCode: error.providerCode } : {}),
        cause: error.cause,
      }),
      { attempts: error.attempts },
    );
    await claim.markAmbiguous(declared);
    throw declared;
  }

  private settling(): SettleDeps {
    return { adapter: (name) => this.adapter(name), log: this.log, safetyMarginMs: this.retry.safetyMarginMs };
  }

  private resultOf(
    prepared: PreparedMessage,
    plan: Plan,
    outcome: FailoverOutcome,
    started: number,
    validateMs: number,
    suppressed: SuppressedRecipient[] = [],
  ): SendResult {
    const now = performance.now();
    const { adapter, sent, attempts } = outcome;
    const { message } = prepared;
    return {
      name: adapter.name,
      provider: adapter.provider,
      mode: adapter.mode,
      route: plan.route,
      messageId: prepared.messageId,
      ...(prepared.size === undefined ? {} : { size: prepared.size }),
      ...sent,
      ...(suppressed.length
        ? {
            rejected: [...sent.rejected, ...suppressed.map((r) => ({ address: r.address, reason: 'SUPPRESSED' }))],
            suppressed,
          }
        : {}),
      attempts,
      ...(outcome.settled ? { settled: true } : {}),
      ...(Object.keys(message.metadata).length ? { metadata: message.metadata } : {}),
      timings: {
        validateMs: round(validateMs),
        composeMs: round(prepared.composeMs),
        sendMs: round(now - started - validateMs),
        totalMs: round(now - started),
      },
    };
  }

  /** Opens each provider (connect, TLS, AUTH) without sending, and reports each one's outcome. */
  async verify(): Promise<VerifyReport[]> {
    const reports: VerifyReport[] = [];
    for (const entry of this.config.providers) {
      const report: VerifyReport = { name: entry.name, provider: entry.provider, mode: entry.mode, ok: true };
      try {
        await (await this.adapter(entry.name)).verify();
      } catch (error) {
        report.ok = false;
        report.error = isMailrouteError(error) ? error.toJSON() : { message: (error as Error).message };
      }
      reports.push(report);
    }
    return reports;
  }

  async close(): Promise<void> {
    const adapters = await Promise.allSettled(this.adapters.values());
    await Promise.all(adapters.map((a) => (a.status === 'fulfilled' ? a.value.close() : undefined)));
    this.adapters.clear();
    if (this.ownsStore) await this.store.close?.();
  }
}

/**
 * Runs one step of preparing a message (validating, composing, routing, hashing). Those steps depend on the
 * message and the configuration only, so what one throws outside the project's errors (a hostile value meeting a
 * bug, a library's own error) would be thrown again by every retry: it is an `InvalidMessageError`, set aside at
 * once with its reason (HTTP 400, a queue's dead letter), never an anonymous 500 or a record retried for ever.
 */
function preparing<T>(step: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw asInvalidMessage(step, error);
  }
}

function asInvalidMessage(step: string, error: unknown): MailrouteError {
  if (isMailrouteError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new InvalidMessageError([{ path: '', message: `could not be ${step}: ${reason}` }], { cause: error });
}

/** `normalizeMessage`, whatever else it throws an invalid message (see `preparing`). */
function normalizeMessage(input: unknown, providers?: ProviderRegistry): NormalizedMessage {
  return preparing('validated', () => validateAndNormalize(input, providers));
}

/**
 * The MIME is composed lazily, inside an adapter, where an error outside the project's would count as the
 * provider failing (retried, failed over, then retried by the queue): a composition that throws is an invalid
 * message instead, the same wherever it is sent.
 */
function composedOrInvalid(prepared: PreparedMessage): PreparedMessage {
  const { mime, encodedSize } = prepared;
  const invalid = (error: unknown): Promise<never> => {
    const failure = asInvalidMessage('composed', error);
    compositionFailures.set(prepared, failure);
    return Promise.reject(failure);
  };
  prepared.mime = () => mime().catch(invalid);
  prepared.encodedSize = () => encodedSize().catch(invalid);
  return prepared;
}

/** The composition error of each prepared message whose MIME could not be composed (see `Mailer.dispatch`). */
const compositionFailures = new WeakMap<PreparedMessage, MailrouteError>();

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
