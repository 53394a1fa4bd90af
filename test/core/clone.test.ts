import { describe, expect, it } from 'vitest';
import { cloneData } from '../../core/util/clone.ts';

describe('cloneData: the stores copy of a record', () => {
  const record = {
    messageId: '<a@example.com>',
    recipients: ['a@example.net', 'b@example.net'],
    attempts: [{ provider: 'ses', ok: true, ms: 12, error: null }],
    metadata: { order: 42, nested: { deep: [1, [2, 3]] }, missing: undefined },
    at: new Date('2026-12-07T00:00:00Z'),
    bytes: Buffer.from('hi'),
    seen: new Map([['x', 1]]),
  };

  it('gives what structuredClone gives', () => {
    const copy = cloneData(record);
    expect(copy).toStrictEqual(structuredClone(record));
    expect('missing' in copy.metadata).toBe(true);
    expect(copy.at).toBeInstanceOf(Date);
    expect(copy.seen).toBeInstanceOf(Map);
  });

  it('shares nothing with the original', () => {
    const copy = cloneData(record);
    copy.recipients.push('c@example.net');
    copy.attempts[0]!.ok = false;
    (copy.metadata.nested.deep[1] as number[]).push(4);
    copy.at.setUTCFullYear(2000);
    copy.seen.set('y', 2);
    expect(record.recipients).toHaveLength(2);
    expect(record.attempts[0]!.ok).toBe(true);
    expect(record.metadata.nested.deep[1]).toEqual([2, 3]);
    expect(record.at.getUTCFullYear()).toBe(2026);
    expect(record.seen.has('y')).toBe(false);
  });

  it('returns primitives as they are, and copies an object without a prototype', () => {
    for (const v of [0, 'x', true, null, undefined, 12n]) expect(cloneData(v)).toBe(v);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: { b: 1 } });
    const copy = cloneData(bare);
    expect(copy).toEqual({ a: { b: 1 } });
    expect(copy.a).not.toBe(bare.a);
  });
});
