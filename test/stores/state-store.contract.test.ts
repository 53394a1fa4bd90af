import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureTableStore } from '../../stores/azure-table.ts';
import { createDynamoDbTable, DynamoDbStore } from '../../stores/dynamodb.ts';
import { MemoryStore } from '../../stores/memory.ts';
import { RedisStore } from '../../stores/redis.ts';
import type { RateGrant, RateRule, StateStore } from '../../stores/store.ts';
import { startAzurite } from '../helpers/azurite.ts';
import { startDynalite } from '../helpers/dynalite.ts';
import { startRedis } from '../helpers/redis.ts';

interface Started {
  store: StateStore;
  /** A second client of the same backend, as another instance has (the memory store is one process's: itself). */
  twin: StateStore;
  stop(): Promise<void>;
}

interface Subject {
  name: string;
  start(): Promise<Started>;
}

const subjects: Subject[] = [
  {
    name: 'MemoryStore',
    start: async () => {
      const store = new MemoryStore();
      return { store, twin: store, stop: async () => {} };
    },
  },
  {
    name: 'DynamoDbStore on dynalite',
    start: async () => {
      const dynalite = await startDynalite();
      const { endpoint, region, credentials } = dynalite;
      const client = new DynamoDBClient({ endpoint, region, credentials });
      const other = new DynamoDBClient({ endpoint, region, credentials });
      // dynalite has no UpdateTimeToLive; the store never relies on TTL deletion anyway.
      await createDynamoDbTable(client, 'mailroute-state', { timeToLive: false });
      return {
        store: new DynamoDbStore({ client, tableName: 'mailroute-state' }),
        twin: new DynamoDbStore({ client: other, tableName: 'mailroute-state' }),
        stop: async () => {
          client.destroy();
          other.destroy();
          await dynalite.stop();
        },
      };
    },
  },
  {
    name: 'AzureTableStore on Azurite',
    start: async () => {
      const azurite = await startAzurite();
      const client = TableClient.fromConnectionString(azurite.connectionString, 'mailroutestate', {
        allowInsecureConnection: true,
      });
      await client.createTable();
      const other = TableClient.fromConnectionString(azurite.connectionString, 'mailroutestate', {
        allowInsecureConnection: true,
      });
      return {
        store: new AzureTableStore({ client }),
        twin: new AzureTableStore({ client: other }),
        stop: azurite.stop,
      };
    },
  },
  {
    name: 'RedisStore on redis-server',
    start: async () => {
      const redis = await startRedis();
      const store = new RedisStore({ url: redis.url });
      const twin = new RedisStore({ url: redis.url });
      return {
        store,
        twin,
        stop: async () => {
          await Promise.all([store.close(), twin.close()]);
          await redis.stop();
        },
      };
    },
  },
];

// Long enough that a few requests to a busy emulator (two shared cores) finish while the record is still live;
// the expiry tests run concurrently, so the suite waits about this long once.
const TTL_MS = 1_000;
/** Until TTL_MS after `since`, so a record whose write had returned by then has surely expired. */
const outlive = (since: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, since + TTL_MS + 50 - Date.now())));

// All backends start together (Azurite alone takes about a second) and each block's tests run concurrently, so the
// expiry waits overlap; every test writes its own keys, so they never see each other's records.
let starting: Promise<Started>[] = [];
beforeAll(() => {
  starting = subjects.map((subject) => subject.start());
  // Awaited by the blocks below; this only keeps a failed start from being reported as unhandled first.
  for (const start of starting) start.catch(() => {});
});
afterAll(() =>
  Promise.all(
    starting.map((start) =>
      start.then(
        (started) => started.stop(),
        () => {},
      ),
    ),
  ),
);

describe.concurrent.each(subjects)('StateStore contract: $name', (subject) => {
  let store: StateStore;
  let twin: StateStore;
  const newKey = (label: string) => `${label}:${randomUUID()}`;

  beforeAll(async () => {
    ({ store, twin } = await starting[subjects.indexOf(subject)]!);
  });

  it('reads an absent key as undefined', async () => {
    expect(await store.get(newKey('absent'))).toBeUndefined();
  });

  it('creates with put, refuses a second put on a live key, and reads value, version and expiry back', async () => {
    const key = newKey('put');
    const before = Date.now();
    const version = await store.put(key, { state: 'in-progress' }, { ttlMs: 60_000 });
    expect(await store.put(key, { state: 'other' })).toBeUndefined();
    const record = await store.get<{ state: string }>(key);
    expect(record).toMatchObject({ key, value: { state: 'in-progress' } });
    expect(typeof record?.version).toBe('string');
    // put hands back the version it wrote, so a writer can go on without reading the record back.
    expect(version).toBe(record?.version);
    expect(record?.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(record?.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it('has no expiresAt for a record written without a lifetime', async () => {
    const key = newKey('forever');
    await store.put(key, 1);
    expect((await store.get(key))?.expiresAt).toBeUndefined();
  });

  it('updates at the current version, giving a new version, and refuses a stale version', async () => {
    const key = newKey('update');
    await store.put(key, { n: 1 }, { ttlMs: 60_000 });
    const first = (await store.get<{ n: number }>(key))!;
    const written = await store.update(key, { n: 2 }, first.version);
    const second = (await store.get<{ n: number }>(key))!;
    expect(second.value).toEqual({ n: 2 });
    expect(second.version).not.toBe(first.version);
    expect(written).toBe(second.version);
    // The version update hands back is good for the next compare-and-set.
    const third = await store.update(key, { n: 2.5 }, written!, { ttlMs: 60_000 });
    expect(third).toBe((await store.get(key))?.version);
    await store.update(key, { n: 2 }, third!);
    const current = (await store.get<{ n: number }>(key))!;
    expect(current.value).toEqual({ n: 2 });
    // A write replaces the lifetime too: none given, none kept.
    expect(second.expiresAt).toBeUndefined();

    expect(await store.update(key, { n: 3 }, first.version)).toBeUndefined();
    expect(await store.get(key)).toEqual(current);
  });

  it('refuses an update of a record that vanished, and of a version it never issued', async () => {
    const key = newKey('update-vanished');
    await store.put(key, 1);
    const { version } = (await store.get(key))!;
    await store.delete(key);
    expect(await store.update(key, 2, version)).toBeUndefined();
    expect(await store.get(key)).toBeUndefined();
    await store.put(key, 3);
    expect(await store.update(key, 4, 'not-a-version')).toBeUndefined();
    expect(await store.update(newKey('update-absent'), 1, 'not-a-version')).toBeUndefined();
    expect((await store.get(key))?.value).toBe(3);
  });

  it('deletes only at the current version when one is given, and unconditionally without one', async () => {
    const key = newKey('delete');
    await store.put(key, 'a');
    const stale = (await store.get(key))!.version;
    await store.update(key, 'b', stale);
    await store.delete(key, stale);
    expect((await store.get(key))?.value).toBe('b');
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();
    await store.delete(key);
    await store.delete(newKey('delete-absent'), stale);
  });

  it('treats an expired record as absent: get misses it, update refuses it, put replaces it', async () => {
    const key = newKey('expiry');
    const other = newKey('expiry-update');
    expect(await store.put(key, 'first', { ttlMs: TTL_MS })).toBeTypeOf('string');
    await store.put(other, 'first', { ttlMs: TTL_MS });
    // Both expiries were computed before their requests went out, so both are before this.
    const writtenAt = Date.now();
    const version = (await store.get(other))!.version;
    expect((await store.get(key))?.value).toBe('first');
    await outlive(writtenAt);

    expect(await store.get(key)).toBeUndefined();
    expect(await store.update(other, 'late', version)).toBeUndefined();
    expect(await store.put(key, 'second', { ttlMs: 60_000 })).toBeTypeOf('string');
    expect((await store.get(key))?.value).toBe('second');
    expect(await store.put(key, 'third')).toBeUndefined();
  });

  it.each([
    ['slashes', 'a/b\\c'],
    ['hash and question mark', 'idem#1?x=2'],
    ['spaces', '  leading and trailing  '],
    ['unicode', 'clé-✉️-键-🔑'],
    ['control characters', 'tab\there\u0001'],
    ['200+ characters', `long:${'x/#?é'.repeat(60)}`],
    ['1200 characters', `longer:${'abcdef'.repeat(200)}`],
  ])('accepts keys with %s', async (_label, suffix) => {
    const key = `${randomUUID()}:${suffix}`;
    expect(await store.put(key, { suffix })).toBeTypeOf('string');
    expect(await store.get(key)).toMatchObject({ key, value: { suffix } });
    const twin = `${key}!`;
    expect(await store.get(twin)).toBeUndefined();
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();
  });

  it('round-trips nested JSON values', async () => {
    const key = newKey('json');
    const value = {
      status: 'completed',
      result: { messageId: '<a@b>', attempts: [{ provider: 'ses', ok: false, ms: 12.5 }, { provider: 'acs' }] },
      empty: {},
      list: [],
      nothing: null,
      flags: [true, false],
      text: 'quote " backslash \\ newline \n unicode ✉️',
    };
    await store.put(key, value);
    expect((await store.get(key))?.value).toEqual(value);
    for (const scalar of [0, 'plain', false, null]) {
      const scalarKey = newKey('scalar');
      await store.put(scalarKey, scalar);
      expect((await store.get(scalarKey))?.value).toEqual(scalar);
    }
  });

  it('lets exactly one of 10 concurrent puts of a new key win', async () => {
    const key = newKey('race-put');
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(key, { winner: i })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(key))?.value).toEqual({ winner: results.findIndex(Boolean) });
  });

  it('lets exactly one of 10 concurrent puts over an expired record win', async () => {
    const key = newKey('race-revive');
    await store.put(key, 'old', { ttlMs: TTL_MS });
    const writtenAt = Date.now();
    await outlive(writtenAt);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(key, { winner: i })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(key))?.value).toEqual({ winner: results.findIndex(Boolean) });
  });

  it('lets exactly one of 10 concurrent updates at the same version win', async () => {
    const key = newKey('race-update');
    await store.put(key, { winner: -1 });
    const { version } = (await store.get(key))!;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.update(key, { winner: i }, version, { ttlMs: 60_000 })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(key))?.value).toEqual({ winner: results.findIndex(Boolean) });
  });

  describe('reserveRate (shared rate limits)', () => {
    // Each request carries the caller's clock when it asks, as the rate limiter's do.
    const reserve = (on: StateStore, key: string, rules: RateRule[], maxWaitMs: number, now = Date.now()) =>
      on.reserveRate!(key, rules, { now, maxWaitMs, ttlMs: 120_000 });
    const granted = (grants: RateGrant[]) => grants.flatMap((g) => (g.ok ? [g.at] : [])).sort((a, b) => a - b);
    const waitOf = (grant: RateGrant) => (grant.ok ? -1 : grant.retryAfterMs);
    // Intervals are long (10 s, a minute) so that a busy emulator's slow answers cannot free a slot meanwhile.
    /** Slot times in whole `unitMs` after `since`: the requests' flight time rounded away. */
    const units = (slots: number[], since: number, unitMs: number) =>
      slots.map((at) => Math.round((at - since) / unitMs));

    it('is implemented', () => {
      expect(store.reserveRate).toBeTypeOf('function');
    });

    it('grants exactly the burst of 60 concurrent requests from two clients, and refuses the rest', async () => {
      const key = newKey('rate-burst');
      // One slot a minute: nothing refills while the requests race.
      const rules = [{ intervalMs: 60_000, burst: 10 }];
      const started = Date.now();
      const grants = await Promise.all(
        Array.from({ length: 60 }, (_, i) => reserve(i % 2 ? twin : store, key, rules, 0)),
      );
      expect(units(granted(grants), started, 60_000)).toEqual(Array(10).fill(0));
      for (const grant of grants.filter((g) => !g.ok)) {
        // The next slot is a minute after the burst's first, less the time the race took.
        expect(waitOf(grant)).toBeGreaterThan(50_000);
        expect(waitOf(grant)).toBeLessThanOrEqual(60_000);
      }
      // The refusals reserved nothing: the 11th slot is still the next one.
      const next = await reserve(store, key, rules, 120_000);
      expect(next.ok && units([next.at], started, 60_000)).toEqual([1]);
    });

    it('hands out future slots one interval apart to callers that wait, none past their wait', async () => {
      const key = newKey('rate-future');
      const rules = [{ intervalMs: 10_000, burst: 1 }];
      const started = Date.now();
      const grants = await Promise.all(
        Array.from({ length: 12 }, (_, i) => reserve(i % 2 ? twin : store, key, rules, 35_000)),
      );
      const slots = granted(grants);
      // Slots now, +10 s, +20 s, +30 s: exactly one each, whichever client asked.
      expect(units(slots, started, 10_000)).toEqual([0, 1, 2, 3]);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeCloseTo(10_000, 6);
      expect(grants.filter((g) => !g.ok)).toHaveLength(8);
    });

    it('reserves nothing when it refuses', async () => {
      const key = newKey('rate-refuse');
      const rules = [{ intervalMs: 60_000, burst: 2 }];
      const first = await reserve(store, key, rules, 0);
      expect(first.ok).toBe(true);
      expect((await reserve(twin, key, rules, 0)).ok).toBe(true);
      expect(waitOf(await reserve(store, key, rules, 0))).toBeGreaterThan(50_000);
      // Refused again and again: the third slot is still one interval after the first, not pushed further.
      for (let i = 0; i < 3; i++) expect((await reserve(twin, key, rules, 10)).ok).toBe(false);
      const third = await reserve(store, key, rules, 120_000);
      expect(third.ok && first.ok && third.at - first.at).toBeCloseTo(60_000, 6);
    });

    it('applies every rule at once: the strictest decides, and each rule is charged', async () => {
      const key = newKey('rate-rules');
      const rules = [
        { intervalMs: 100, burst: 5 },
        { intervalMs: 10_000, burst: 3 },
      ];
      const started = Date.now();
      const grants = await Promise.all(
        Array.from({ length: 10 }, (_, i) => reserve(i % 2 ? twin : store, key, rules, 0)),
      );
      // In whole intervals of the second rule (10 s), so that however long the race took on a busy machine
      // cannot move a slot into the next unit.
      expect(units(granted(grants), started, 10_000)).toEqual([0, 0, 0]);
      // The second rule's next slot is one interval after its burst began; the first alone would allow one now.
      const next = await reserve(store, key, rules, 20_000);
      expect(next.ok && units([next.at], started, 10_000)).toEqual([1]);
    });

    it('keeps the state of different keys apart', async () => {
      const rules = [{ intervalMs: 60_000, burst: 1 }];
      const [a, b] = [newKey('rate-a'), newKey('rate-b')];
      expect((await reserve(store, a, rules, 0)).ok).toBe(true);
      expect((await reserve(store, b, rules, 0)).ok).toBe(true);
      expect((await reserve(twin, a, rules, 0)).ok).toBe(false);
    });

    it('frees slots as time passes: a quiet spell restores the burst, no more', async () => {
      const key = newKey('rate-refill');
      const rules = [{ intervalMs: 60_000, burst: 3 }];
      const first = await Promise.all(Array.from({ length: 5 }, () => reserve(store, key, rules, 0)));
      expect(granted(first)).toHaveLength(3);
      // Ten intervals later by the callers' clock: the burst again, not ten slots.
      const later = Date.now() + 600_000;
      const second = await Promise.all(Array.from({ length: 6 }, () => reserve(twin, key, rules, 0, later)));
      expect(units(granted(second), later, 60_000)).toEqual([0, 0, 0]);
    });
  });
});
