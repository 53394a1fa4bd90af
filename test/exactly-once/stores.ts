import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { startAzurite } from '../helpers/azurite.ts';
import { startDynalite } from '../helpers/dynalite.ts';
import { startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/sender.ts';
import { completesAClaim, type StoreFaultProxy, startStoreFaultProxy } from '../helpers/store-fault-proxy.ts';

const run = promisify(execFile);

/**
 * A real shared store that sender processes reach over loopback, and a way to make it fail the write that
 * completes a claim, as each store fails under load: DynamoDB throttles, Azure Storage is busy, Redis refuses.
 */
export interface StoreUnderTest {
  name: string;
  /** A fresh, empty store (a new table or key prefix): its `store` configuration and the env its secrets need. */
  fresh(): Promise<{ store: Record<string, unknown>; env: Record<string, string> }>;
  /** From now on, the next `times` completing writes fail (past the store client's own retries). */
  failCompletions(times: number): Promise<void>;
  /** Resolves once at least one completing write has been refused since `failCompletions`. */
  refusedOne(): Promise<void>;
  /** Every completing write succeeds again. */
  heal(): Promise<void>;
  /** Failures past which the store client's own retries give up (and mailroute's own retry must recover). */
  clientAttempts: number;
  stop(): Promise<void>;
}

export async function startDynamoUnderTest(): Promise<StoreUnderTest> {
  const [{ DynamoDBClient }, { createDynamoDbTable }] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('../../stores/dynamodb.ts'),
  ]);
  const dynalite = await startDynalite();
  const proxy = await startStoreFaultProxy(dynalite.endpoint);
  const client = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: dynalite.region,
    credentials: dynalite.credentials,
  });
  return {
    name: 'DynamoDB (dynalite)',
    fresh: async () => {
      const tableName = `mailroute-${randomUUID()}`;
      await createDynamoDbTable(client, tableName, { timeToLive: false });
      return {
        store: { type: 'dynamodb', tableName, region: dynalite.region, endpoint: proxy.url },
        env: { AWS_ACCESS_KEY_ID: 'dynalite', AWS_SECRET_ACCESS_KEY: 'dynalite', AWS_REGION: dynalite.region },
      };
    },
    ...httpFaults(proxy, {
      status: 400,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-errortype': 'ProvisionedThroughputExceededException',
      },
      body: JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message: 'The level of configured provisioned throughput for the table was exceeded.',
      }),
    }),
    // The SDK's standard retry mode makes three attempts.
    clientAttempts: 3,
    stop: async () => {
      client.destroy();
      await proxy.close();
      await dynalite.stop();
    },
  };
}

export async function startAzureTableUnderTest(): Promise<StoreUnderTest> {
  const { TableClient } = await import('@azure/data-tables');
  const azurite = await startAzurite();
  const tableEndpoint = azurite.tableEndpoint!;
  const origin = new URL(tableEndpoint).origin;
  const proxy = await startStoreFaultProxy(origin);
  const connectionString = azurite.connectionString.replace(origin, proxy.url);
  return {
    name: 'Azure Table (Azurite)',
    fresh: async () => {
      const tableName = `mailroute${randomUUID().replaceAll('-', '')}`.slice(0, 40);
      const client = TableClient.fromConnectionString(azurite.connectionString, tableName, {
        allowInsecureConnection: true,
      });
      await client.createTable();
      return {
        store: { type: 'azure-table', tableName, connectionString: { env: 'MR_STORE_CONNECTION' } },
        env: { MR_STORE_CONNECTION: connectionString },
      };
    },
    ...httpFaults(proxy, {
      status: 503,
      headers: { 'content-type': 'application/json', 'x-ms-error-code': 'ServerBusy' },
      body: JSON.stringify({
        'odata.error': { code: 'ServerBusy', message: { lang: 'en-US', value: 'The server is busy.' } },
      }),
    }),
    // The Azure SDK's exponential retry policy: one try and three retries.
    clientAttempts: 4,
    stop: async () => {
      await proxy.close();
      await azurite.stop();
    },
  };
}

export async function startRedisUnderTest(): Promise<StoreUnderTest> {
  const redis = await startRedis();
  const admin = (...args: string[]) =>
    run('redis-cli', ['-h', redis.host, '-p', String(redis.port), '--no-auth-warning', '-a', redis.password, ...args]);
  // The senders log in as their own user, whose rights a test can take away while the server stays up.
  const password = randomUUID();
  await admin('ACL', 'SETUSER', 'mailroute', 'on', `>${password}`, '~*', '&*', '+@all');
  const refusals = async () => {
    const { stdout } = await admin('INFO', 'errorstats');
    return Number(/errorstat_NOPERM:count=(\d+)/.exec(stdout)?.[1] ?? 0);
  };
  let before = 0;
  return {
    name: 'Redis (redis-server)',
    fresh: async () => ({
      store: { type: 'redis', url: { env: 'MR_STORE_URL' }, keyPrefix: `mr-${randomUUID()}:` },
      env: { MR_STORE_URL: `redis://mailroute:${password}@${redis.host}:${redis.port}` },
    }),
    // Writes go through scripts: refusing scripting and writes fails every compare-and-set, reads still work.
    failCompletions: async () => {
      before = await refusals();
      await admin('ACL', 'SETUSER', 'mailroute', '-@scripting', '-@write');
    },
    refusedOne: () => waitFor(async () => (await refusals()) > before, 'Redis to refuse a write'),
    heal: async () => {
      await admin('ACL', 'SETUSER', 'mailroute', '+@all');
    },
    clientAttempts: 1,
    stop: redis.stop,
  };
}

function httpFaults(
  proxy: StoreFaultProxy,
  answer: { status: number; headers: Record<string, string>; body: string },
): Pick<StoreUnderTest, 'failCompletions' | 'refusedOne' | 'heal'> {
  return {
    failCompletions: async (times) => {
      proxy.fail({ match: completesAClaim, count: times, ...answer });
    },
    refusedOne: () => waitFor(() => proxy.failed() > 0, 'the store to refuse a write'),
    heal: async () => proxy.clear(),
  };
}
