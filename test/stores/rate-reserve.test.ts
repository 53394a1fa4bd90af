import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TableClient } from '@azure/data-tables';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RateLimiter } from '../../core/routing/rate-limit.ts';
import type { Logger } from '../../core/util/log.ts';
import { AzureTableStore } from '../../stores/azure-table.ts';
import { createDynamoDbTable, DynamoDbStore } from '../../stores/dynamodb.ts';
import { RedisStore } from '../../stores/redis.ts';
import type { RateGrant, RateRule, StateStore } from '../../stores/store.ts';
import { type Azurite, startAzurite } from '../helpers/azurite.ts';
import { type Dynalite, startDynalite } from '../helpers/dynalite.ts';
import { freePort, type RedisServer, startRedis } from '../helpers/redis.ts';

// How each store's atomic reservation behaves under contention, in round trips: the contract suite checks what is
// granted; these check that it is granted without a retry storm (the way the old limiter lost 20 rounds).

const RULES: RateRule[] = [{ intervalMs: 1_000, burst: 1 }];
const reserve = (store: StateStore, key: string, maxWaitMs = 60_000) =>
  store.reserveRate!(key, RULES, { now: Date.now(), maxWaitMs, ttlMs: 120_000 });

/** Granted slots, sorted, checked to be one interval apart (none shared, none skipped). */
function expectConsecutiveSlots(grants: RateGrant[]) {
  expect(grants.every((g) => g.ok)).toBe(true);
  const slots = grants.map((g) => (g.ok ? g.at : 0)).sort((a, b) => a - b);
  for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeCloseTo(1_000, 6);
}

describe.concurrent('reserveRate round trips under contention', () => {
  let dynalite: Dynalite;
  let azurite: Azurite;
  let redis: RedisServer;
  beforeAll(async () => {
    [dynalite, azurite, redis] = await Promise.all([startDynalite(), startAzurite(), startRedis()]);
  });
  afterAll(() => Promise.all([dynalite?.stop(), azurite?.stop(), redis?.stop()]));

  it('DynamoDB: a busy limit takes one conditional UpdateItem per reservation, from any number of clients', async () => {
    const calls: string[] = [];
    const clients = [0, 1].map(() => {
      const client = new DynamoDBClient({
        endpoint: dynalite.endpoint,
        region: dynalite.region,
        credentials: dynalite.credentials,
      });
      client.middlewareStack.add(
        (next, context) => (args) => {
          calls.push(context.commandName ?? '?');
          return next(args);
        },
        { step: 'initialize' },
      );
      return client;
    });
    const tableName = `rate-${randomUUID()}`;
    await createDynamoDbTable(clients[0]!, tableName, { timeToLive: false });
    const [a, b] = clients.map((client) => new DynamoDbStore({ client, tableName }));
    const key = `gcra:${randomUUID()}`;
    expect((await reserve(a!, key)).ok).toBe(true);
    calls.length = 0;
    // 20 callers on two instances: the relative update never conflicts while the limit is busy.
    const grants = await Promise.all(Array.from({ length: 20 }, (_, i) => reserve(i % 2 ? b! : a!, key)));
    expectConsecutiveSlots(grants);
    expect(calls.filter((c) => c === 'UpdateItemCommand')).toHaveLength(20);
    // Only the instance that had never seen the limit read it first.
    expect(calls.filter((c) => c === 'GetItemCommand').length).toBeLessThanOrEqual(10);

    // A quiet limit raced by 20 first callers: one takes the idle form, the others lose once and go on busy.
    const fresh = `gcra:${randomUUID()}`;
    calls.length = 0;
    const first = await Promise.all(
      Array.from({ length: 20 }, (_, i) => reserve(new DynamoDbStore({ client: clients[i % 2]!, tableName }), fresh)),
    );
    expectConsecutiveSlots(first);
    expect(calls.filter((c) => c === 'UpdateItemCommand').length).toBeLessThanOrEqual(40);
    for (const client of clients) client.destroy();
  });

  it('Redis: one script call per reservation, whatever the contention', async () => {
    const admin = new Redis({ host: redis.host, port: redis.port, password: redis.password, lazyConnect: true });
    const stores = [0, 1, 2].map(() => new RedisStore({ url: redis.url }));
    const key = `gcra:${randomUUID()}`;
    // Loads the script once, so the counts below are all EVALSHA.
    await reserve(stores[0]!, `warm:${randomUUID()}`);
    const scriptCalls = async () => {
      const stats = (await admin.info('commandstats')) as string;
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const before = await scriptCalls();
    const grants = await Promise.all(Array.from({ length: 30 }, (_, i) => reserve(stores[i % 3]!, key)));
    expectConsecutiveSlots(grants);
    expect((await scriptCalls()) - before).toBe(30);
    await Promise.all(stores.map((store) => store.close()));
    admin.disconnect();
  });

  it('Azure Table: one instance’s concurrent callers share compare-and-set rounds; two instances both progress', async () => {
    const tableName = `rate${randomUUID().replaceAll('-', '')}`.slice(0, 40);
    const tables = [0, 1].map(() =>
      TableClient.fromConnectionString(azurite.connectionString, tableName, { allowInsecureConnection: true }),
    );
    await tables[0]!.createTable();
    const writes = tables.map((table) => [vi.spyOn(table, 'createEntity'), vi.spyOn(table, 'updateEntity')]);
    const [a, b] = tables.map((client) => new AzureTableStore({ client }));
    const key = `gcra:${randomUUID()}`;
    const grants = await Promise.all(Array.from({ length: 30 }, () => reserve(a!, key)));
    expectConsecutiveSlots(grants);
    // Batched: the first caller's round, then one for everyone who queued meanwhile (and a retry or two at most).
    const writesOf = (i: number) => writes[i]!.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    expect(writesOf(0)).toBeLessThanOrEqual(4);

    const more = await Promise.all(Array.from({ length: 30 }, (_, i) => reserve(i % 2 ? b! : a!, key, 120_000)));
    expectConsecutiveSlots([...grants, ...more]);
  });
});

describe('a limiter whose store cannot be reached', () => {
  it('paces at its share of the limit and logs the outage once (Redis with nothing listening)', async () => {
    const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 200 });
    const warnings: unknown[] = [];
    const log: Logger = { info() {}, warn: (msg, fields) => warnings.push({ msg, ...fields }), error() {} };
    const limiter = new RateLimiter('ses', [{ limit: 14, per: 'second', instances: 7 }], store, { log });
    // Its share: 2/s with a burst of 2; the others are refused at once, not waited for.
    const results = await Promise.all(Array.from({ length: 6 }, () => limiter.acquire(0)));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    for (const r of results.filter((r) => !r.ok)) expect(r.ok || r.retryAfterMs).toBeLessThanOrEqual(500);
    expect(warnings).toEqual([
      expect.objectContaining({
        msg: 'rate limit store unreachable: pacing this instance alone at its share of the limit',
        provider: 'ses',
        error: expect.stringContaining('127.0.0.1'),
        share: [{ limit: 2, per: 'second', instances: 7 }],
      }),
    ]);
    await store.close();
  });
});
