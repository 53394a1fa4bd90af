import { BrokenCircuitError, type CircuitBreakerPolicy, CircuitState, circuitBreaker, handleWhen } from 'cockatiel';
import type { StateStore } from '../../stores/store.ts';
import type { MailrouteError } from '../errors.ts';
import {
  type BreakerOptions,
  countsAgainstProvider,
  marksDownAtOnce,
  providerBreaker,
  SlowCall,
} from './health-policy.ts';

export interface HealthOptions extends BreakerOptions {
  /** Consecutive provider-level failures that open a provider's circuit. */
  failureThreshold: number;
  /** How long an open circuit (or a provider marked down) waits before one probe is let through. */
  cooldownMs: number;
  /** How long a shared health record read from the store is reused before reading it again. */
  sharedCacheMs: number;
  /** How long one instance holds the right to probe a provider whose mark ran out (freed by its answer). */
  probeTtlMs: number;
}

export const DEFAULT_HEALTH: HealthOptions = {
  failureThreshold: 3,
  failureRate: 0.5,
  failureWindow: 20,
  slowCallMs: 10_000,
  cooldownMs: 30_000,
  sharedCacheMs: 1_000,
  probeTtlMs: 15_000,
};

interface SharedHealth {
  downUntil: number;
  reason: string;
}

/** @deprecated the name before the health policy had a file of its own: `countsAgainstProvider`. */
export const isProviderFailure = countsAgainstProvider;

export type Availability = { ok: true } | { ok: false; reason: string; untilMs?: number };

/**
 * Health of every provider entry: a cockatiel circuit breaker per entry in this process, and, through the
 * store, a "down until" record that other instances read, so an outage found by one instance is skipped by all.
 */
export class HealthTracker {
  private readonly options: HealthOptions;
  private readonly store: StateStore;
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private readonly shared = new Map<string, { value?: SharedHealth; version?: string; readAt: number }>();
  /** Entries this instance holds the probe slot of (their mark ran out and this instance tries them first). */
  private readonly probing = new Set<string>();

  constructor(store: StateStore, options: Partial<HealthOptions> = {}) {
    this.store = store;
    this.options = { ...DEFAULT_HEALTH, ...options };
  }

  private breaker(name: string): CircuitBreakerPolicy {
    let breaker = this.breakers.get(name);
    if (!breaker) {
      breaker = circuitBreaker(handleWhen(countsAgainstProvider), {
        halfOpenAfter: this.options.cooldownMs,
        breaker: providerBreaker(this.options),
      });
      breaker.onReset(() => void this.clearShared(name));
      this.breakers.set(name, breaker);
    }
    return breaker;
  }

  /** Whether a send may go to this entry now, and if not, why. */
  async availability(name: string, now = Date.now()): Promise<Availability> {
    const state = this.breaker(name).state;
    if (state === CircuitState.HalfOpen) return { ok: false, reason: 'circuit half-open: a probe is in flight' };
    const shared = await this.readShared(name, now);
    if (shared && shared.downUntil > now) {
      return { ok: false, reason: `marked down: ${shared.reason}`, untilMs: shared.downUntil };
    }
    if (shared && !this.probing.has(name)) {
      // The mark has run out: one instance probes, the others keep away until it has answered, so a thousand
      // instances do not all hit a provider that may still be down.
      const won = await this.store.put(`probe:${name}`, { at: now }, { ttlMs: this.options.probeTtlMs });
      if (!won) return { ok: false, reason: 'marked down: another instance is probing it' };
      this.probing.add(name);
    }
    return { ok: true };
  }

  /** A send went through: a provider that was marked down is back, for every instance sharing the store. */
  async recordSuccess(name: string): Promise<void> {
    const cached = this.shared.get(name);
    if (!cached?.value && !this.probing.has(name)) return;
    this.probing.delete(name);
    this.shared.set(name, { readAt: Date.now() });
    // Only the mark this instance read: one written since (another instance saw a new failure) stays.
    if (cached?.version) await this.store.delete(`health:${name}`, cached.version);
    await this.store.delete(`probe:${name}`);
  }

  /**
   * Runs one send through the entry's breaker; a BrokenCircuitError means the circuit is open. A send slower than
   * `slowCallMs` still returns its result, but the breaker counts it as a failure.
   */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker(name).execute(async () => {
        const started = Date.now();
        const result = await fn();
        const latencyMs = Date.now() - started;
        if (latencyMs >= this.options.slowCallMs) throw new SlowCall(result, latencyMs);
        return result;
      });
    } catch (error) {
      if (error instanceof SlowCall) return error.result as T;
      throw error;
    }
  }

  static isOpenCircuit(error: unknown): boolean {
    return error instanceof BrokenCircuitError;
  }

  /** Records what a failed send says about the provider, marking it down for everyone when it warrants it. */
  async recordFailure(name: string, error: MailrouteError, maxThrottleWaitMs: number): Promise<void> {
    const state = this.breaker(name).state;
    const probed = this.probing.delete(name);
    if (probed && countsAgainstProvider(error)) {
      // The probe failed: down again for a cool-down, and the probe slot freed for the next one.
      await this.markDown(name, `${error.code}: ${error.message}`.slice(0, 300));
      await this.store.delete(`probe:${name}`);
      return;
    }
    if (probed) await this.store.delete(`probe:${name}`);
    if (marksDownAtOnce(error, maxThrottleWaitMs) || state === CircuitState.Open) {
      // A throttle says itself how long the provider is closed to us; anything else waits the cool-down.
      const retryAfterMs = (error as MailrouteError & { retryAfterMs?: number }).retryAfterMs;
      const forMs = error.code === 'THROTTLED' && retryAfterMs !== undefined ? retryAfterMs : undefined;
      await this.markDown(name, `${error.code}: ${error.message}`.slice(0, 300), Date.now(), forMs);
    }
  }

  async markDown(name: string, reason: string, now = Date.now(), forMs = this.options.cooldownMs): Promise<void> {
    const value: SharedHealth = { downUntil: now + forMs, reason };
    const key = `health:${name}`;
    // Kept well past the down time, so the record can be compared with; it only matters while downUntil > now.
    const ttlMs = Math.max(forMs, this.options.cooldownMs) * 10;
    const current = await this.store.get<SharedHealth>(key);
    const written = current
      ? await this.store.update(key, value, current.version, { ttlMs })
      : await this.store.put(key, value, { ttlMs });
    if (!written) return;
    const stored = await this.store.get<SharedHealth>(key);
    this.shared.set(name, { ...(stored ? { value: stored.value, version: stored.version } : { value }), readAt: now });
  }

  private async readShared(name: string, now: number): Promise<SharedHealth | undefined> {
    const cached = this.shared.get(name);
    if (cached && now - cached.readAt < this.options.sharedCacheMs) return cached.value;
    const record = await this.store.get<SharedHealth>(`health:${name}`);
    this.shared.set(name, { ...(record ? { value: record.value, version: record.version } : {}), readAt: now });
    return record?.value;
  }

  private async clearShared(name: string): Promise<void> {
    const cached = this.shared.get(name);
    this.shared.set(name, { readAt: Date.now() });
    // Only the mark this instance knew of: a newer one, written by another instance since, stays.
    if (cached?.version) await this.store.delete(`health:${name}`, cached.version);
  }

  /** A snapshot for `explain` and logs. */
  state(name: string): string {
    return this.breaker(name).state === CircuitState.Closed
      ? 'closed'
      : CircuitState[this.breaker(name).state].toLowerCase();
  }
}
