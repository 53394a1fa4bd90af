import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../core/adapter.ts';
import { AmbiguousDeliveryError, IdempotencyConflictError, SendInProgressError } from '../../core/errors.ts';
import { IdempotencyGuard, payloadHash } from '../../core/idempotency.ts';
import { MemoryStore } from '../../core/memory-store.ts';

const result = {
  name: 'a',
  provider: 'local',
  mode: 'api',
  messageId: '<x@y>',
  size: 1,
  accepted: [],
  rejected: [],
} as unknown as SendResult;

describe('IdempotencyGuard', () => {
  it('hashes payloads independently of key order', () => {
    expect(payloadHash({ a: 1, b: { c: 2, d: 3 } })).toBe(payloadHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(payloadHash({ a: 1 })).not.toBe(payloadHash({ a: 2 }));
  });

  it('claims once, reports in-progress to others, returns the recorded result after completion', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    const first = await guard.begin('k', 'h', 10_000);
    expect(first.kind).toBe('new');
    await expect(guard.begin('k', 'h', 10_000)).rejects.toBeInstanceOf(SendInProgressError);
    await expect(guard.begin('k', 'other', 10_000)).rejects.toBeInstanceOf(IdempotencyConflictError);
    await guard.complete('k', (first as { version: string }).version, 'h', result);
    expect(await guard.begin('k', 'h', 10_000)).toEqual({ kind: 'completed', result });
  });

  it('frees the key after a failure that sent nothing, and keeps it after an ambiguous one', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    const a = (await guard.begin('free', 'h', 10_000)) as { version: string };
    await guard.release('free', a.version);
    expect((await guard.begin('free', 'h', 10_000)).kind).toBe('new');
    const b = (await guard.begin('amb', 'h', 10_000)) as { version: string };
    await guard.markAmbiguous('amb', b.version, 'h', new AmbiguousDeliveryError('dropped after DATA'));
    expect(await guard.begin('amb', 'h', 10_000)).toMatchObject({ kind: 'ambiguous', error: { code: 'AMBIGUOUS' } });
  });

  it('lets a claim expire, so a crashed sender does not block the key forever', async () => {
    const guard = new IdempotencyGuard(new MemoryStore());
    expect((await guard.begin('k', 'h', 30)).kind).toBe('new');
    await new Promise((r) => setTimeout(r, 60));
    expect((await guard.begin('k', 'h', 30)).kind).toBe('new');
  });
});
