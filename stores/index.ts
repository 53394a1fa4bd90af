import { MemoryStore } from './memory.ts';
import type { StateStore } from './store.ts';

export type StoreConfig =
  | { type: 'memory'; maxRecords?: number }
  | { type: 'dynamodb'; tableName: string; region?: string; endpoint?: string }
  | {
      type: 'azure-table';
      tableName: string;
      /** Already resolved by the caller from the secret store or the environment. */
      connectionString?: string;
      /** `https://<account>.table.core.windows.net` with the managed identity, when there is no connection string. */
      endpoint?: string;
    }
  | {
      type: 'redis';
      /** `redis://[:password@]host:port[/db]` or `rediss://…`, already resolved by the caller: it is a secret. */
      url: string;
      /** Default `mailroute:`. */
      keyPrefix?: string;
    }
  | {
      /** One JSON file on local disk, shared by the processes of one directory (see `FileStore`): not for production. */
      type: 'file';
      /** The file, e.g. `.mailroute/state.json`; its directory is created when missing. */
      path: string;
    };

/**
 * The store a configuration names. Async because each cloud SDK is imported only when its store is chosen:
 * loading `@aws-sdk/client-dynamodb` costs about 0.3 s, `@azure/data-tables` 0.4 s and `@azure/identity` 1.1 s
 * of cold start (`ioredis` about 0.05 s), which a function that uses another store (or none) should not pay.
 *
 * @example
 * const store = await createStore({ type: 'dynamodb', tableName: 'mailroute-state', region: 'eu-west-1' });
 */
export async function createStore(config: StoreConfig): Promise<StateStore> {
  switch (config.type) {
    case 'memory':
      return new MemoryStore(config.maxRecords === undefined ? {} : { maxRecords: config.maxRecords });
    case 'dynamodb': {
      const { DynamoDbStore } = await import('./dynamodb.ts');
      return new DynamoDbStore({ tableName: config.tableName, region: config.region, endpoint: config.endpoint });
    }
    case 'azure-table': {
      const { AzureTableStore } = await import('./azure-table.ts');
      if (config.connectionString) {
        return new AzureTableStore({ tableName: config.tableName, connectionString: config.connectionString });
      }
      if (!config.endpoint) {
        throw new TypeError('store (azure-table) needs either connectionString or endpoint');
      }
      const { DefaultAzureCredential } = await import('@azure/identity');
      return new AzureTableStore({
        tableName: config.tableName,
        endpoint: config.endpoint,
        credential: new DefaultAzureCredential(),
      });
    }
    case 'redis': {
      const { RedisStore } = await import('./redis.ts');
      return new RedisStore({
        url: config.url,
        ...(config.keyPrefix === undefined ? {} : { keyPrefix: config.keyPrefix }),
      });
    }
    case 'file': {
      const { FileStore } = await import('./file.ts');
      return new FileStore({ path: config.path });
    }
    default:
      throw new TypeError(
        `store.type must be memory, dynamodb, azure-table or redis, not ${(config as { type?: unknown }).type}`,
      );
  }
}

// The store classes are deliberately not re-exported here: importing them from this module would load every
// cloud SDK. Import `./dynamodb.ts`, `./azure-table.ts`, `./redis.ts` or `./file.ts` directly when you need the
// class itself.
