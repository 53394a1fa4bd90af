import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { createAdapter } from '../../providers/index.ts';
import { DEFAULT_MAX_MEMORY_RECORDS, MemoryStore } from '../../stores/memory.ts';

describe('memory store: bounded by maxRecords', () => {
  it('drops the least recently written record when full, and keeps the rest', async () => {
    const store = new MemoryStore({ maxRecords: 3 });
    const v1 = await store.put('a', 1);
    await store.put('b', 2);
    await store.put('c', 3);
    // Rewriting a makes it the most recent: b is now the oldest write.
    await store.update('a', 10, v1!);
    await store.put('d', 4);
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.value).toBe(10);
    expect((await store.get('c'))?.value).toBe(3);
    expect((await store.get('d'))?.value).toBe(4);
    expect(store.evicted).toBe(1);
    // A dropped key is free again, as after a restart.
    expect(await store.put('b', 5)).toBeDefined();
    expect(store.evicted).toBe(2);
  });

  it('holds no more than maxRecords however many sends', async () => {
    const store = new MemoryStore({ maxRecords: 100 });
    const dir = mkdtempSync(join(tmpdir(), 'mr-memory-bound-'));
    const mailer = new Mailer(
      validateConfig({ providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: dir }] }),
      createAdapter,
      { store },
    );
    for (let i = 0; i < 200; i++) {
      const sent = await mailer.send({
        from: 'a@example.com',
        to: `user${i}@example.net`,
        subject: `s${i}`,
        text: 'x',
        idempotencyKey: `k${i}`,
      });
      expect(sent.accepted).toEqual([`user${i}@example.net`]);
    }
    await mailer.close();
    rmSync(dir, { recursive: true, force: true });
    expect((await store.list('')).records.length).toBeLessThanOrEqual(100);
    expect(store.evicted).toBeGreaterThan(0);
  });

  it('takes its bound from the configuration, and has a default', () => {
    const mailer = new Mailer(
      validateConfig({
        providers: [{ name: 'local', provider: 'local', mode: 'api' }],
        store: { type: 'memory', maxRecords: 500 },
      }),
      createAdapter,
    );
    expect((mailer as unknown as { store: MemoryStore }).store.maxRecords).toBe(500);
    expect(new MemoryStore().maxRecords).toBe(DEFAULT_MAX_MEMORY_RECORDS);
    expect(() => validateConfig({ providers: [], store: { type: 'memory', maxRecords: 5 } })).toThrow(/maxRecords/);
  });
});
