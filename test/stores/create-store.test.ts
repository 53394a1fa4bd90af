import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureTableStore } from '../../stores/azure-table.ts';
import { createDynamoDbTable, DynamoDbStore, dynamoDbTableResource } from '../../stores/dynamodb.ts';
import { createStore, type StoreConfig } from '../../stores/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import { RedisStore } from '../../stores/redis.ts';
import { type Azurite, startAzurite } from '../helpers/azurite.ts';
import { type Dynalite, startDynalite } from '../helpers/dynalite.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

// How the stores are built and what they write as other tools see it: the TTL attribute DynamoDB deletes by, the
// names a serverless.yml declares, the rows Storage Explorer shows.

let azurite: Azurite;
let dynalite: Dynalite;
let dynamo: DynamoDBClient;
let redis: RedisServer;

beforeAll(async () => {
  [azurite, dynalite, redis] = await Promise.all([startAzurite(), startDynalite(), startRedis()]);
  dynamo = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: dynalite.region,
    credentials: dynalite.credentials,
  });
});
afterAll(async () => {
  dynamo?.destroy();
  await Promise.all([azurite?.stop(), dynalite?.stop(), redis?.stop()]);
});

const tableClient = async (tableName: string) => {
  const client = TableClient.fromConnectionString(azurite.connectionString, tableName, {
    allowInsecureConnection: true,
  });
  await client.createTable();
  return client;
};

describe('createStore', () => {
  it('builds the in-process store', async () => {
    expect(await createStore({ type: 'memory' })).toBeInstanceOf(MemoryStore);
  });

  it('builds a DynamoDB store from a table name and region', async () => {
    expect(await createStore({ type: 'dynamodb', tableName: 'state', region: 'eu-west-1' })).toBeInstanceOf(
      DynamoDbStore,
    );
  });

  it('builds an Azure Table store from a plain-HTTP connection string, unprompted', async () => {
    // Creating the table is the deployment's job, not the store's.
    await tableClient('createstore');
    const store = await createStore({
      type: 'azure-table',
      tableName: 'createstore',
      connectionString: azurite.connectionString,
    });
    expect(store).toBeInstanceOf(AzureTableStore);
    expect(await store.put('k/1', { ok: true })).toBeTypeOf('string');
    expect((await store.get('k/1'))?.value).toEqual({ ok: true });
  });

  it('names the missing setting when an Azure Table store has neither connection string nor endpoint', async () => {
    await expect(createStore({ type: 'azure-table', tableName: 'state' })).rejects.toThrow(
      /connectionString or endpoint/,
    );
  });

  it('builds a Redis store from a URL with the password and a key prefix', async () => {
    const store = await createStore({ type: 'redis', url: redis.url, keyPrefix: 'createstore:' });
    expect(store).toBeInstanceOf(RedisStore);
    const samePrefix = new RedisStore({ url: redis.url, keyPrefix: 'createstore:' });
    const defaultPrefix = new RedisStore({ url: redis.url });
    try {
      expect(await store.put('k/1', { ok: true })).toBeTypeOf('string');
      expect((await store.get('k/1'))?.value).toEqual({ ok: true });
      expect((await samePrefix.get('k/1'))?.value).toEqual({ ok: true });
      expect(await defaultPrefix.get('k/1')).toBeUndefined();
    } finally {
      await Promise.all([(store as RedisStore).close(), samePrefix.close(), defaultPrefix.close()]);
    }
  });

  it('refuses a Redis URL of another scheme without quoting it', async () => {
    const url = `https://:${redis.password}@127.0.0.1:${redis.port}`;
    const refused = createStore({ type: 'redis', url });
    await expect(refused).rejects.toThrow(/url must start with redis:\/\/ or rediss:\/\//);
    await expect(refused).rejects.not.toThrow(redis.password);
  });

  it('refuses an unknown store type loudly', async () => {
    await expect(createStore({ type: 'cassandra' } as unknown as StoreConfig)).rejects.toThrow(
      /store\.type must be memory, dynamodb, azure-table or redis, not cassandra/,
    );
  });
});

describe('DynamoDB table and item layout', () => {
  it('creates the table idempotently; TTL is refused by dynalite, which lacks UpdateTimeToLive', async () => {
    await createDynamoDbTable(dynamo, 'layout', { timeToLive: false });
    await createDynamoDbTable(dynamo, 'layout', { timeToLive: false });
    await expect(createDynamoDbTable(dynamo, 'layout')).rejects.toMatchObject({ name: 'UnknownOperationException' });
    expect(dynamoDbTableResource.Properties.TimeToLiveSpecification.AttributeName).toBe('expiresAt');
  });

  it('stores pk, JSON value, version, TTL seconds rounded up and exact milliseconds', async () => {
    await createDynamoDbTable(dynamo, 'items', { timeToLive: false });
    const store = new DynamoDbStore({ client: dynamo, tableName: 'items' });
    await store.put('idem:1', { state: 'in-progress' }, { ttlMs: 1_500 });
    const record = (await store.get('idem:1'))!;
    const { Item: item } = await dynamo.send(new GetItemCommand({ TableName: 'items', Key: { pk: { S: 'idem:1' } } }));
    expect(item).toEqual({
      pk: { S: 'idem:1' },
      value: { S: '{"state":"in-progress"}' },
      version: { S: record.version },
      expiresAt: { N: String(Math.ceil(record.expiresAt! / 1000)) },
      expiresAtMs: { N: String(record.expiresAt) },
    });
  });
});

describe('Azure Table entity layout', () => {
  it('stores a hashed partition, a base64url RowKey, the key, JSON value and Int64 expiry', async () => {
    const client = await tableClient('layout');
    const store = new AzureTableStore({ client });
    await store.put('health/ses#eu?', { down: true }, { ttlMs: 60_000 });
    const record = (await store.get('health/ses#eu?'))!;
    const entities = [];
    for await (const entity of client.listEntities()) entities.push(entity);
    expect(entities).toHaveLength(1);
    expect(entities[0]).toMatchObject({
      partitionKey: expect.stringMatching(/^[0-9a-f]{2}$/),
      rowKey: Buffer.from('health/ses#eu?').toString('base64url'),
      key: 'health/ses#eu?',
      value: '{"down":true}',
      expiresAt: BigInt(record.expiresAt!),
    });
    expect(record.version).toBe(`${record.expiresAt};${entities[0]?.etag}`);
  });

  it('hashes a key whose encoding would pass the 512-character RowKey limit', async () => {
    const client = await tableClient('longkeys');
    const key = `k:${'é'.repeat(400)}`;
    await new AzureTableStore({ client }).put(key, 1);
    for await (const entity of client.listEntities()) {
      expect(entity.rowKey).toMatch(/^\.[A-Za-z0-9_-]{43}$/);
      expect(entity.key).toBe(key);
    }
  });
});
