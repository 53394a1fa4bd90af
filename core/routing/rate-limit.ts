import type { RateGrant, RateRequest, RateRule, StateStore } from '../../stores/store.ts';
import { jsonLogger, type Logger } from '../util/log.ts';
import { sleep } from '../util/sleep.ts';

export interface RateLimitRule {
  /** Sends allowed per window. */
  limit: number;
  per: 'second' | 'minute' | 'hour' | 'day';
  /** Sends allowed at once after a quiet spell; default: one window's worth for per-second, else 1/60 of it. */
  burst?: number;
  /**
   * With a shared store: how many instances may send at once. While the store cannot be reached, each instance
   * paces itself at `limit / instances` (burst likewise, at least 1), so that together they stay within the
   * limit. Default 10.
   */
  instances?: number;
}

const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** Instances assumed to share a limit while its store is unreachable, unless the rule says how many. */
export const DEFAULT_RATE_LIMIT_INSTANCES = 10;
/** How long an instance paces itself alone after the store failed, before it asks the store again. */
const STORE_RETRY_MS = 1_000;
/** Float noise allowance: slots are sums of fractional intervals. */
const EPSILON_MS = 1e-6;

export type Acquired = { ok: true; waitedMs: number } | { ok: false; retryAfterMs: number };

function capacity(rule: RateLimitRule): number {
  // A per-minute or longer quota is paced evenly rather than spent in one burst at the top of the window.
  return rule.burst ?? (rule.per === 'second' ? rule.limit : Math.max(1, Math.floor(rule.limit / 60)));
}

/** A configured rule as the stores keep it: one slot every window/limit, `burst` at once. */
export function toRateRule(rule: RateLimitRule): RateRule {
  return { intervalMs: WINDOW_MS[rule.per] / rule.limit, burst: Math.max(1, capacity(rule)) };
}

/** This instance's share of a rule while the store is unreachable: limit and burst divided by `instances`. */
function localShare(rule: RateLimitRule): RateRule {
  const instances = Math.max(1, rule.instances ?? DEFAULT_RATE_LIMIT_INSTANCES);
  const { intervalMs, burst } = toRateRule(rule);
  return { intervalMs: intervalMs * instances, burst: Math.max(1, Math.floor(burst / instances)) };
}

/**
 * One GCRA step over every rule at once (see `RateRule`): the slot the next send gets (the latest of the rules'
 * earliest free slots) and the rules' state after taking it, or a refusal when that slot is more than
 * `maxWaitMs` away (the state is then unchanged). `tats[i]` belongs to `rules[i]`; undefined means idle.
 * Pure: the memory store runs it as is, compare-and-set stores around a read and a conditional write, and
 * Redis's script does the same arithmetic.
 */
export function gcraReserve(
  tats: readonly (number | null | undefined)[],
  rules: readonly RateRule[],
  now: number,
  maxWaitMs: number,
): { grant: RateGrant; tats: number[] } {
  let at = now;
  rules.forEach((rule, i) => {
    const tat = tats[i];
    if (typeof tat === 'number') at = Math.max(at, tat - (rule.burst - 1) * rule.intervalMs);
  });
  const current = rules.map((_, i) => tats[i] ?? Number.NEGATIVE_INFINITY);
  if (at - now > maxWaitMs + EPSILON_MS) {
    return { grant: { ok: false, retryAfterMs: Math.ceil(at - now - EPSILON_MS) }, tats: current };
  }
  const next = rules.map((rule, i) => Math.max(current[i]!, now) + rule.intervalMs);
  return { grant: { ok: true, at }, tats: next };
}

interface CasState {
  tats: number[];
}

interface Pending {
  rules: readonly RateRule[];
  request: RateRequest;
  /** This machine's clock when it was queued, to age `request.now` by the time spent here. */
  queuedAt: number;
  resolve(grant: RateGrant): void;
  reject(error: unknown): void;
}

/** Compare-and-set rounds one batch may lose before its callers are told to come back (nothing is granted). */
const CAS_MAX_ROUNDS = 40;
const CAS_BACKOFF_BASE_MS = 4;
const CAS_BACKOFF_CAP_MS = 200;

const casQueues = new WeakMap<StateStore, Map<string, Pending[]>>();

/**
 * `reserveRate` for a store that has only the four methods (and Azure Table's, which is exactly this): the rules'
 * state is a record read and written back at its version. Within one process, callers for the same key are
 * queued and served in batches, one compare-and-set in flight at a time, so a process is one contender however
 * many sends it runs; between processes, a lost round is retried after a random ("full jitter") backoff that
 * grows with each loss. Each round is won by some instance (the store's version check is atomic), so the shared
 * state keeps moving; a batch that keeps losing for `CAS_MAX_ROUNDS` rounds is refused (`ok: false`), never
 * granted from anywhere else.
 */
export function reserveByCompareAndSet(
  store: StateStore,
  key: string,
  rules: readonly RateRule[],
  request: RateRequest,
  random: () => number = Math.random,
): Promise<RateGrant> {
  let queues = casQueues.get(store);
  if (!queues) {
    queues = new Map();
    casQueues.set(store, queues);
  }
  const waiting = queues.get(key);
  return new Promise<RateGrant>((resolve, reject) => {
    const pending: Pending = { rules, request, queuedAt: Date.now(), resolve, reject };
    if (waiting) {
      // A batch is in flight for this key: this request goes into the next one.
      waiting.push(pending);
      return;
    }
    const queue = [pending];
    queues.set(key, queue);
    void drain(store, key, queue, queues, random);
  });
}

async function drain(
  store: StateStore,
  key: string,
  queue: Pending[],
  queues: Map<string, Pending[]>,
  random: () => number,
): Promise<void> {
  while (queue.length > 0) {
    const batch = queue.splice(0);
    try {
      const grants = await casBatch(store, key, batch, random);
      for (const [i, pending] of batch.entries()) pending.resolve(grants[i]!);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }
  queues.delete(key);
}

async function casBatch(store: StateStore, key: string, batch: Pending[], random: () => number): Promise<RateGrant[]> {
  let grants: RateGrant[] = [];
  for (let round = 0; round < CAS_MAX_ROUNDS; round++) {
    const record = await store.get<CasState>(key);
    const clock = Date.now();
    const stored = record?.value?.tats;
    let tats: (number | null | undefined)[] = Array.isArray(stored) ? stored : [];
    grants = batch.map(({ rules, request, queuedAt }) => {
      const step = gcraReserve(tats, rules, request.now + (clock - queuedAt), request.maxWaitMs);
      if (step.grant.ok) tats = mergeTats(tats, step.tats);
      return step.grant;
    });
    // Refusals change nothing, so a batch of refusals needs no write.
    if (!grants.some((grant) => grant.ok)) return grants;
    const value: CasState = { tats: tats.map((tat) => tat ?? null) as number[] };
    const ttlMs = Math.max(...batch.map((pending) => pending.request.ttlMs));
    const written = record
      ? await store.update(key, value, record.version, { ttlMs })
      : await store.put(key, value, { ttlMs });
    if (written !== undefined) return grants;
    // Lost to another instance: back off a random time within a window that doubles with each loss.
    await sleep(random() * Math.min(CAS_BACKOFF_CAP_MS, CAS_BACKOFF_BASE_MS * 2 ** round));
  }
  // Nothing was written: whatever the last round computed is refused, with a hint of when a slot would be free.
  return grants.map((grant) => ({ ok: false, retryAfterMs: grant.ok ? CAS_BACKOFF_CAP_MS : grant.retryAfterMs }));
}

/** `next` over `previous`, keeping entries past `next`'s length (another configuration with more rules). */
function mergeTats(previous: readonly (number | null | undefined)[], next: readonly number[]) {
  const merged = [...previous];
  next.forEach((tat, i) => {
    merged[i] = tat;
  });
  return merged;
}

export interface RateLimiterOptions {
  /** Where an unreachable store is reported (once per outage); default JSON lines on stderr. */
  log?: Logger;
}

/**
 * Rate limits of one provider entry (one rule per quota: a provider may have per-minute and per-hour ones), as GCRA: each
 * caller reserves its slot at once, possibly in the future, then waits for it, so concurrent senders are spaced
 * out evenly instead of all waking together. With a shared store, every instance reserves from the same state
 * in one atomic step of the store (`StateStore.reserveRate`, else compare-and-set): under any contention no
 * instance grants more than the rules allow. Only when the store cannot be reached does an instance pace itself,
 * at its share `limit / instances` of each rule, and it says so in the log once per outage.
 */
export class RateLimiter {
  private readonly rules: RateLimitRule[];
  private readonly specs: RateRule[];
  private readonly shares: RateRule[];
  private readonly key: string;
  private readonly name: string;
  private readonly store?: StateStore;
  private readonly log: Logger;
  /** Without a store: the whole limit, in this process. */
  private local: number[] = [];
  /** During a store outage: this instance's share. */
  private share: number[] = [];
  private outage: { since: number; retryAt: number } | undefined;

  constructor(name: string, rules: RateLimitRule[], store?: StateStore, options: RateLimiterOptions = {}) {
    this.name = name;
    this.rules = rules;
    this.specs = rules.map(toRateRule);
    this.shares = rules.map(localShare);
    // Not the key the bucket-based limiter used: its records have another shape (and on Redis another type).
    this.key = `gcra:${name}`;
    this.store = store;
    this.log = options.log ?? jsonLogger();
  }

  /** Reserves one send, waiting for it when the wait is at most `maxWaitMs`; otherwise reserves nothing. */
  async acquire(maxWaitMs: number, now = Date.now()): Promise<Acquired> {
    if (this.rules.length === 0) return { ok: true, waitedMs: 0 };
    const calledAt = Date.now();
    const grant = this.store ? await this.reserveShared(this.store, maxWaitMs, now) : this.reserveLocal(maxWaitMs, now);
    if (!grant.ok) return grant;
    const waitedMs = Math.max(0, Math.ceil(grant.at - now - EPSILON_MS));
    // The store's round trip already took part of the wait.
    const remaining = grant.at - now - (Date.now() - calledAt);
    if (remaining > 0) await sleep(Math.ceil(remaining));
    return { ok: true, waitedMs };
  }

  private reserveLocal(maxWaitMs: number, now: number): RateGrant {
    const step = gcraReserve(this.local, this.specs, now, maxWaitMs);
    if (step.grant.ok) this.local = step.tats;
    return step.grant;
  }

  private reserveShare(maxWaitMs: number, now: number): RateGrant {
    const step = gcraReserve(this.share, this.shares, now, maxWaitMs);
    if (step.grant.ok) this.share = step.tats;
    return step.grant;
  }

  private async reserveShared(store: StateStore, maxWaitMs: number, now: number): Promise<RateGrant> {
    const started = Date.now();
    const outage = this.outage;
    if (outage) {
      if (Date.now() < outage.retryAt) return this.reserveShare(maxWaitMs, now);
      // This call probes the store; the others keep to the local share meanwhile.
      outage.retryAt = Date.now() + STORE_RETRY_MS;
    }
    const request: RateRequest = { now, maxWaitMs, ttlMs: this.ttlMs(maxWaitMs) };
    let grant: RateGrant;
    try {
      grant = store.reserveRate
        ? await store.reserveRate(this.key, this.specs, request)
        : await reserveByCompareAndSet(store, this.key, this.specs, request);
    } catch (error) {
      this.storeFailed(error);
      return this.reserveShare(maxWaitMs, now + (Date.now() - started));
    }
    if (this.outage) {
      this.log.info('rate limit store reachable again: pacing from the shared limit', {
        provider: this.name,
        outageMs: Date.now() - this.outage.since,
      });
      this.outage = undefined;
    }
    return grant;
  }

  private storeFailed(error: unknown): void {
    const now = Date.now();
    if (this.outage) {
      this.outage.retryAt = now + STORE_RETRY_MS;
      return;
    }
    this.outage = { since: now, retryAt: now + STORE_RETRY_MS };
    this.log.warn('rate limit store unreachable: pacing this instance alone at its share of the limit', {
      provider: this.name,
      error: (error as Error)?.message ?? String(error),
      share: this.rules.map((rule) => ({
        limit: rule.limit / Math.max(1, rule.instances ?? DEFAULT_RATE_LIMIT_INSTANCES),
        per: rule.per,
        instances: rule.instances ?? DEFAULT_RATE_LIMIT_INSTANCES,
      })),
    });
  }

  /** Long enough that state is only dropped once every rule is idle again (plus a minute for clock skew). */
  private ttlMs(maxWaitMs: number): number {
    return Math.ceil(Math.max(0, maxWaitMs) + Math.max(...this.specs.map((s) => s.burst * s.intervalMs)) + 60_000);
  }
}
