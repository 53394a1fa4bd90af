import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { expiryFrom, type StateStore, type StoredRecord, type WriteOptions } from '../core/store.ts';

export interface DynamoDbStoreOptions {
  tableName: string;
  /** A ready client (tests, custom retry settings); otherwise one is built from the fields below. */
  client?: DynamoDBClient;
  region?: string;
  /** A local endpoint such as dynalite's `http://127.0.0.1:PORT`. */
  endpoint?: string;
  credentials?: DynamoDBClientConfig['credentials'];
}

/**
 * The table as CloudFormation declares it, for `serverless.yml` (`resources.Resources.StateTable`).
 * Items: `pk` (S, the key), `value` (S, JSON), `version` (S, a random UUID per write), and when the record
 * has a lifetime `expiresAt` (N, epoch seconds: DynamoDB's TTL attribute) and `expiresAtMs` (N, epoch ms).
 * The functions need `dynamodb:GetItem`, `dynamodb:PutItem` and `dynamodb:DeleteItem` on it, nothing more.
 */
export const dynamoDbTableResource = {
  Type: 'AWS::DynamoDB::Table',
  Properties: {
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
  },
} as const;

/**
 * Idempotency records, shared health and shared rate limits in one DynamoDB table.
 *
 * DynamoDB's TTL deletes expired items lazily (often hours late), so every read and every condition also
 * compares the exact `expiresAtMs` with the clock: an expired item reads as absent and `put` overwrites it.
 * Versions are random UUIDs rather than counters so that a record put again after expiry can never be
 * updated by a writer still holding the previous life's version.
 *
 * @example
 * const store = new DynamoDbStore({ tableName: 'mailroute-state', region: 'eu-west-1' });
 */
export class DynamoDbStore implements StateStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;

  constructor(options: DynamoDbStoreOptions) {
    this.tableName = options.tableName;
    this.client =
      options.client ??
      new DynamoDBClient({ region: options.region, endpoint: options.endpoint, credentials: options.credentials });
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    // A strongly consistent read: an eventually consistent one could hand out a version already replaced.
    const { Item: item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    if (!item?.value?.S || !item.version?.S) return undefined;
    const expiresAt = item.expiresAtMs?.N === undefined ? undefined : Number(item.expiresAtMs.N);
    if (expiresAt !== undefined && expiresAt <= Date.now()) return undefined;
    return {
      key,
      value: JSON.parse(item.value.S) as T,
      version: item.version.S,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined> {
    const now = Date.now();
    return this.conditionalPut(key, value, options, now, 'attribute_not_exists(pk) OR expiresAtMs <= :now', {
      ':now': { N: String(now) },
    });
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined> {
    const now = Date.now();
    return this.conditionalPut(
      key,
      value,
      options,
      now,
      'version = :version AND (attribute_not_exists(expiresAtMs) OR expiresAtMs > :now)',
      { ':version': { S: version }, ':now': { N: String(now) } },
    );
  }

  async delete(key: string, version?: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key } },
          ...(version === undefined
            ? {}
            : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': { S: version } } }),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** A whole-item PutItem guarded by `condition`: the new version, or undefined on a lost condition (a race). */
  private async conditionalPut(
    key: string,
    value: unknown,
    options: WriteOptions | undefined,
    now: number,
    condition: string,
    values: Record<string, AttributeValue>,
  ): Promise<string | undefined> {
    const item = toItem(key, value, expiryFrom(options, now));
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return item.version!.S;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}

function toItem(key: string, value: unknown, expiresAt: number | undefined): Record<string, AttributeValue> {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`State store value for "${key}" is not JSON-serializable`);
  const item: Record<string, AttributeValue> = { pk: { S: key }, value: { S: json }, version: { S: randomUUID() } };
  if (expiresAt !== undefined) {
    // Rounded up, so DynamoDB's own TTL deletion can never remove a record before its exact expiry.
    item.expiresAt = { N: String(Math.ceil(expiresAt / 1000)) };
    item.expiresAtMs = { N: String(expiresAt) };
  }
  return item;
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

export interface CreateDynamoDbTableOptions {
  /**
   * Turn on DynamoDB's TTL on `expiresAt` (default true). dynalite has no `UpdateTimeToLive`, so tests against it
   * pass false; the store treats expired items as absent either way.
   */
  timeToLive?: boolean;
}

/**
 * Creates the state table (on-demand capacity, TTL on `expiresAt`) and waits until it is active; an existing
 * table is left as it is. For tests and the CLI; deployments declare `dynamoDbTableResource` instead.
 *
 * @example
 * await createDynamoDbTable(new DynamoDBClient({ endpoint }), 'mailroute-state', { timeToLive: false });
 */
export async function createDynamoDbTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateDynamoDbTableOptions = {},
): Promise<void> {
  const { AttributeDefinitions, KeySchema, BillingMode, TimeToLiveSpecification } = dynamoDbTableResource.Properties;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [...AttributeDefinitions],
        KeySchema: [...KeySchema],
        BillingMode,
      }),
    );
  } catch (error) {
    if ((error as { name?: unknown } | null)?.name !== 'ResourceInUseException') throw error;
  }
  // The waiter checks once before it sleeps, so an already active table costs one DescribeTable.
  await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { TableName: tableName });
  if (options.timeToLive === false) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { ...TimeToLiveSpecification } }),
    );
  } catch (error) {
    // Raised when TTL is already on: running this twice is fine.
    if (!/already enabled/i.test((error as Error).message ?? '')) throw error;
  }
}
