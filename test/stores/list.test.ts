import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureTableStore } from '../../stores/azure-table.ts';
import { createDynamoDbTable, DynamoDbStore } from '../../stores/dynamodb.ts';
import { FileStore } from '../../stores/file.ts';
import { MemoryStore } from '../../stores/memory.ts';
import { RedisStore } from '../../stores/redis.ts';
import type { StateStore, StoredRecord } from '../../stores/store.ts';
import { startAzurite } from '../helpers/azurite.ts';
import { startDynalite } from '../helpers/dynalite.ts';
import { startRedis } from '../helpers/redis.ts';

// `StateStore.list` on every store: the same contract, each test on a fresh, empty store (a new table, key prefix
// or file) of one backend started once, so that listing everything under a prefix sees only that test's records.

interface Backend {
  /** A new, empty store on this backend. */
  fresh(): Promise<StateStore>;
  stop(): Promise<void>;
}

interface Subject {
  name: string;
  start(): Promise<Backend>;
  /** Whether `list` keeps key order (the stores that sort); the others list in hash order. */
  sorted: boolean;
}

const subjects: Subject[] = [
  {
    name: 'MemoryStore',
    sorted: true,
    start: async () => ({ fresh: async () => new MemoryStore(), stop: async () => {} }),
  },
  {
    name: 'FileStore',
    sorted: true,
    start: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mailroute-list-'));
      return {
        fresh: async () => new FileStore({ path: join(dir, randomUUID(), 'state.json') }),
        stop: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'DynamoDbStore on dynalite',
    sorted: false,
    start: async () => {
      const dynalite = await startDynalite();
      const { endpoint, region, credentials } = dynalite;
      const client = new DynamoDBClient({ endpoint, region, credentials });
      return {
        fresh: async () => {
          const tableName = `list-${randomUUID()}`;
          await createDynamoDbTable(client, tableName, { timeToLive: false });
          return new DynamoDbStore({ client, tableName });
        },
        stop: async () => {
          client.destroy();
          await dynalite.stop();
        },
      };
    },
  },
  {
    name: 'AzureTableStore on Azurite',
    sorted: false,
    start: async () => {
      const azurite = await startAzurite();
      return {
        fresh: async () => {
          const tableName = `list${randomUUID().replaceAll('-', '')}`;
          const client = TableClient.fromConnectionString(azurite.connectionString, tableName, {
            allowInsecureConnection: true,
          });
          await client.createTable();
          return new AzureTableStore({ client });
        },
        stop: azurite.stop,
      };
    },
  },
  {
    name: 'RedisStore on redis-server',
    sorted: false,
    start: async () => {
      const redis = await startRedis();
      const stores: RedisStore[] = [];
      return {
        fresh: async () => {
          // A key prefix of its own: the same database, nothing of the other tests' in sight.
          const store = new RedisStore({ url: redis.url, keyPrefix: `list-${randomUUID()}:` });
          stores.push(store);
          return store;
        },
        stop: async () => {
          await Promise.all(stores.map((store) => store.close()));
          await redis.stop();
        },
      };
    },
  },
];

let starting: Promise<Backend>[] = [];
beforeAll(() => {
  starting = subjects.map((subject) => subject.start());
  for (const start of starting) start.catch(() => {});
});
afterAll(() =>
  Promise.all(
    starting.map((start) =>
      start.then(
        (backend) => backend.stop(),
        () => {},
      ),
    ),
  ),
);

/** Every page, following cursors to the end (bounded, so a cursor that never ends fails the test). */
async function listAll<T>(store: StateStore, prefix: string, limit?: number) {
  const records: StoredRecord<T>[] = [];
  const pages: number[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const result = await store.list!<T>(prefix, {
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    records.push(...result.records);
    pages.push(result.records.length);
    cursor = result.cursor;
    if (cursor === undefined) return { records, pages };
  }
  throw new Error('list never ended');
}

const keysOf = (records: StoredRecord[]) => records.map((record) => record.key).sort();

describe.concurrent.each(subjects)('StateStore.list: $name', (subject) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await starting[subjects.indexOf(subject)]!;
  });

  it('is implemented', async () => {
    expect((await backend.fresh()).list).toBeTypeOf('function');
  });

  it('lists the live records whose key starts with the prefix, as get reads them', async () => {
    const store = await backend.fresh();
    await store.put('sup:a', { reason: 'bounce' }, { ttlMs: 60_000 });
    await store.put('sup:b', { reason: 'complaint' });
    await store.put('supx', { reason: 'other' });
    await store.put('idem:1', { state: 'completed' });

    const { records } = await listAll<{ reason: string }>(store, 'sup:');
    expect(keysOf(records)).toEqual(['sup:a', 'sup:b']);
    // Key (without any store prefix of its own), value, version and expiry exactly as `get` has them.
    for (const record of records) {
      const got = await store.get(record.key);
      expect(record).toMatchObject({ key: got!.key, value: got!.value, version: got!.version });
      if (got!.expiresAt === undefined) expect(record.expiresAt).toBeUndefined();
      // Redis turns the remaining lifetime back into a time, so two reads differ by their moments.
      else expect(Math.abs(record.expiresAt! - got!.expiresAt)).toBeLessThan(1_000);
    }
    // The version listed is good for compare-and-set.
    const listedB = records.find((record) => record.key === 'sup:b')!;
    expect(await store.update('sup:b', { reason: 'manual' }, listedB.version)).toBeTypeOf('string');

    expect(keysOf((await listAll(store, 'sup')).records)).toEqual(['sup:a', 'sup:b', 'supx']);
    expect(keysOf((await listAll(store, 'idem:')).records)).toEqual(['idem:1']);
    expect(keysOf((await listAll(store, '')).records)).toEqual(['idem:1', 'sup:a', 'sup:b', 'supx']);
    expect((await listAll(store, 'nothing:')).records).toEqual([]);
    expect((await listAll(store, 'sup:a:')).records).toEqual([]);
  });

  it('takes the prefix literally: glob, query and regular-expression characters match only themselves', async () => {
    const store = await backend.fresh();
    const keys = ["sup*:'q'", 'sup?:a', 'sup[x]:b', 'sup\\:c', 'supa:d', 'sup.:e', 'sup%:f', 'sup:é✉️'];
    for (const key of keys) await store.put(key, key);
    for (const key of keys) {
      const prefix = key.slice(0, key.indexOf(':') + 1);
      expect(keysOf((await listAll(store, prefix)).records), prefix).toEqual([key]);
    }
    expect(keysOf((await listAll(store, 'sup')).records)).toEqual([...keys].sort());
  });

  it('pages with a small limit, every record exactly once and no page over the limit', async () => {
    const store = await backend.fresh();
    const keys = Array.from({ length: 23 }, (_, i) => `sup:${String(i).padStart(2, '0')}@example.com`);
    await Promise.all(keys.map((key, i) => store.put(key, { i })));
    // Many more keys outside the prefix: the scanning stores then meet them on most pages (and Redis's SCAN
    // batches then hold more keys than a page has room for).
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(`other:${i}`, i)));

    const { records, pages } = await listAll<{ i: number }>(store, 'sup:', 4);
    expect(keysOf(records)).toEqual(keys);
    expect(new Set(records.map((record) => record.key)).size).toBe(records.length);
    for (const size of pages) expect(size).toBeLessThanOrEqual(4);
    if (subject.sorted) {
      expect(records.map((record) => record.key)).toEqual(keys);
      expect(pages).toEqual([4, 4, 4, 4, 4, 3]);
    }
    for (const record of records) expect(record.value).toEqual({ i: keys.indexOf(record.key) });

    // The default page size holds them all; limit 1 still gets there.
    expect(keysOf((await listAll(store, 'sup:')).records)).toEqual(keys);
    expect(keysOf((await listAll(store, 'sup:', 1)).records)).toEqual(keys);
  });

  it('does not list expired records, nor deleted ones', async () => {
    const store = await backend.fresh();
    await store.put('sup:short', 'gone soon', { ttlMs: 300 });
    await store.put('sup:long', 'stays', { ttlMs: 60_000 });
    await store.put('sup:forever', 'stays');
    await store.put('sup:deleted', 'gone');
    await store.delete('sup:deleted');
    const written = Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, written + 400 - Date.now())));
    const { records } = await listAll(store, 'sup:');
    expect(keysOf(records)).toEqual(['sup:forever', 'sup:long']);
  });

  it('lists nothing but records: shared rate-limit state kept apart from them does not show', async () => {
    const store = await backend.fresh();
    await store.put('gcra:record', 'a record');
    const grant = await store.reserveRate?.('gcra:limit', [{ intervalMs: 60_000, burst: 1 }], {
      now: Date.now(),
      maxWaitMs: 0,
      ttlMs: 60_000,
    });
    expect(grant?.ok ?? true).toBe(true);
    const listed = keysOf((await listAll(store, 'gcra:')).records);
    // Azure Table keeps rate state as an ordinary record (compare-and-set); the others keep it apart.
    if (subject.name.startsWith('AzureTableStore')) expect(listed).toEqual(['gcra:limit', 'gcra:record']);
    else expect(listed).toEqual(['gcra:record']);
  });

  it('refuses a cursor it never issued', async () => {
    const store = await backend.fresh();
    await store.put('sup:a', 1);
    if (subject.sorted) {
      // A key is a cursor for the sorting stores: the next page starts after it.
      expect((await store.list!('sup:', { cursor: 'sup:a' })).records).toEqual([]);
    } else {
      await expect(store.list!('sup:', { cursor: 'not a cursor' })).rejects.toThrow();
    }
    await expect(store.list!('sup:', { limit: 0 })).rejects.toThrow(/limit/);
  });
});
