import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Adapter, SendResult } from '../../core/contract/adapter.ts';
import {
  AmbiguousDeliveryError,
  IdempotencyConflictError,
  SendInProgressError,
  StateStoreError,
} from '../../core/errors.ts';
import { type Begun, type Claim, IdempotencyGuard, payloadHash } from '../../core/state/idempotency.ts';
import { MemoryStore } from '../../stores/memory.ts';
import type { StateStore } from '../../stores/store.ts';

const result = {
  name: 'a',
  provider: 'local',
  mode: 'api',
  messageId: '<x@y>',
  providerMessageId: 'p-1',
  size: 1,
  accepted: [],
  rejected: [],
} as unknown as SendResult;

const adapter = { name: 'ses-api', provider: 'ses', mode: 'api' } as Adapter;

function claimOf(begun: Begun): Claim {
  if (begun.kind !== 'new' && begun.kind !== 'unresolved') throw new Error(`expected a claim, got ${begun.kind}`);
  return begun.claim;
}

/** A store whose writes fail `failures` times with DynamoDB's throttling error: a rare fault forced on purpose. */
class FlakyStore extends MemoryStore {
  failures = 0;
  override async update<T>(key: string, value: T, version: string, options?: { ttlMs?: number }) {
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('The level of configured provisioned throughput for the table was exceeded'), {
        name: 'ProvisionedThroughputExceededException',
      });
    }
    return super.update(key, value, version, options);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('IdempotencyGuard', () => {
  it('hashes payloads independently of key order', () => {
    expect(payloadHash({ a: 1, b: { c: 2, d: 3 } })).toBe(payloadHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(payloadHash({ a: 1 })).not.toBe(payloadHash({ a: 2 }));
  });

  it('claims once, reports in-progress to others, returns the recorded result after completion', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    const claim = claimOf(await guard.begin('k', 'h', 10_000));
    await expect(guard.begin('k', 'h', 10_000)).rejects.toBeInstanceOf(SendInProgressError);
    await expect(guard.begin('k', 'other', 10_000)).rejects.toBeInstanceOf(IdempotencyConflictError);
    await claim.beginAttempt(adapter);
    expect(await claim.complete(result)).toEqual([]);
    expect(await guard.begin('k', 'h', 10_000)).toEqual({ kind: 'completed', result });
  });

  it('frees the key after a failure that sent nothing, and keeps it after an ambiguous one', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    await claimOf(await guard.begin('free', 'h', 10_000)).release();
    expect((await guard.begin('free', 'h', 10_000)).kind).toBe('new');
    const claim = claimOf(await guard.begin('amb', 'h', 10_000));
    await claim.beginAttempt(adapter);
    await claim.markAmbiguous(new AmbiguousDeliveryError('dropped after DATA'));
    expect(await guard.begin('amb', 'h', 10_000)).toMatchObject({ kind: 'ambiguous', error: { code: 'AMBIGUOUS' } });
  });

  it('takes over a claim that never reached a provider once its lease (and the skew tolerance) ran out', async () => {
    // The clock is stepped, not waited on: "past the lease, inside the tolerance" is a 40 ms window that a busy
    // machine could sleep right through.
    vi.useFakeTimers({ toFake: ['Date'] });
    const guard = new IdempotencyGuard(new MemoryStore(), { clockSkewToleranceMs: 40 });
    const crashed = claimOf(await guard.begin('k', 'h', 30));
    vi.setSystemTime(Date.now() + 45);
    // Past the lease, inside the tolerance: still the first holder's.
    await expect(guard.begin('k', 'h', 30)).rejects.toBeInstanceOf(SendInProgressError);
    vi.setSystemTime(Date.now() + 40);
    const taken = await guard.begin('k', 'h', 10_000);
    expect(taken.kind).toBe('new');
    // The first holder wakes up: its hand-over is refused, so only the new holder can send.
    await expect(crashed.beginAttempt(adapter)).rejects.toThrow(/taken over by another instance.*not sending/);
    await expect(claimOf(taken).beginAttempt(adapter)).resolves.toMatchObject({ name: 'ses-api' });
  });

  it('never frees a claim whose attempt began: after the lease it is handed over to be settled', async () => {
    const guard = new IdempotencyGuard(new MemoryStore(), { clockSkewToleranceMs: 0 });
    const crashed = claimOf(await guard.begin('k', 'h', 30));
    const attempt = await crashed.beginAttempt(adapter, 'token-1');
    expect(attempt).toMatchObject({ name: 'ses-api', provider: 'ses', mode: 'api', token: 'token-1' });
    expect(attempt.firstSentAt).toBe(attempt.startedAt);
    await new Promise((r) => setTimeout(r, 40));
    const begun = await guard.begin('k', 'h', 10_000);
    expect(begun).toMatchObject({ kind: 'unresolved', attempt });
    // Only one redelivery gets to settle it; another one meanwhile is told it is in progress.
    await expect(guard.begin('k', 'h', 10_000)).rejects.toBeInstanceOf(SendInProgressError);
    expect(claimOf(begun).record.unresolvedSince).toBeGreaterThanOrEqual(attempt.startedAt);
  });

  it('keeps the first hand-over time of an entry across attempts (a repeatable request keeps its first-sent time)', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    const claim = claimOf(await guard.begin('k', 'h', 10_000));
    const first = await claim.beginAttempt(adapter);
    await claim.attemptFailed();
    expect(claim.attempt).toBeUndefined();
    await new Promise((r) => setTimeout(r, 5));
    const second = await claim.beginAttempt(adapter);
    expect(second.startedAt).toBeGreaterThan(first.startedAt);
    expect(second.firstSentAt).toBe(first.firstSentAt);
  });

  it('a clock running ahead cannot make a live claim look free beyond its skew tolerance', async () => {
    const store = new MemoryStore();
    const honest = new IdempotencyGuard(store, { clockSkewToleranceMs: 60_000 });
    const claim = claimOf(await honest.begin('k', 'h', 20_000));
    await claim.beginAttempt(adapter);
    // Another instance, 30 s ahead, reads the same record.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 30_000);
    await expect(honest.begin('k', 'h', 20_000)).rejects.toBeInstanceOf(SendInProgressError);
    vi.restoreAllMocks();
    expect(await claim.complete(result)).toEqual([]);
  });

  it('records the delivered result over a claim taken over meanwhile, and says so', async () => {
    const store = new MemoryStore();
    const guard = new IdempotencyGuard(store, { clockSkewToleranceMs: 0 });
    const slow = claimOf(await guard.begin('k', 'h', 20));
    await slow.beginAttempt(adapter);
    await new Promise((r) => setTimeout(r, 30));
    const settler = claimOf(await guard.begin('k', 'h', 10_000));
    await settler.markAmbiguous(new AmbiguousDeliveryError('could not settle'));
    const warnings = await slow.complete(result);
    expect(warnings).toEqual([expect.objectContaining({ code: 'CLAIM_LOST' })]);
    expect(await guard.begin('k', 'h', 10_000)).toEqual({ kind: 'completed', result });
  });

  it('retries the completing write when the store throttles, and records the result', async () => {
    const store = new FlakyStore();
    const guard = new IdempotencyGuard(store);
    const claim = claimOf(await guard.begin('k', 'h', 10_000));
    await claim.beginAttempt(adapter);
    store.failures = 2;
    expect(await claim.complete(result, Date.now() + 5_000)).toEqual([]);
    expect(await guard.begin('k', 'h', 10_000)).toEqual({ kind: 'completed', result });
  });

  it('when the store keeps failing after the send: a typed warning with the provider id, and the attempt stays recorded', async () => {
    const store = new FlakyStore();
    const guard = new IdempotencyGuard(store, { clockSkewToleranceMs: 0 });
    const claim = claimOf(await guard.begin('k', 'h', 50));
    await claim.beginAttempt(adapter);
    store.failures = 100;
    const warnings = await claim.complete(result, Date.now() + 200);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'STATE_NOT_RECORDED', providerMessageId: 'p-1', messageId: '<x@y>' });
    expect(String(warnings[0]!.cause)).toMatch(/ProvisionedThroughputExceededException/);
    store.failures = 0;
    await new Promise((r) => setTimeout(r, 60));
    // A redelivery never takes it for free: it is handed over to be settled.
    expect((await guard.begin('k', 'h', 10_000)).kind).toBe('unresolved');
  });

  it('turns a store failure before the send into a StateStoreError, never the raw SDK error', async () => {
    const failing: StateStore = {
      get: () => Promise.reject(new Error('socket hang up')),
      put: () => Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })),
      update: () => Promise.reject(new Error('x')),
      delete: () => Promise.reject(new Error('x')),
    };
    const error = await new IdempotencyGuard(failing).begin('k', 'h', 1_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateStoreError);
    expect(error).toMatchObject({ code: 'STATE_STORE', retryable: true, failover: false });
    expect((error as Error).message).toMatch(/claim the idempotency key: ThrottlingException: throttled/);
  });
});
