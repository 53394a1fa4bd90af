import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { listLimit } from './memory.ts';
// The same contract types as the other stores import, on purpose: each implements store.ts's StateStore.
import {
  expiryFrom,
  type ListOptions,
  type ListPage,
  type RateGrant,
  type RateRequest,
  type RateRule,
  type StateStore,
  type StoredRecord,
  type WriteOptions,
} from './store.ts';

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
 * Shared rate limits are items of their own: `pk`, `t0`, `t1`… (N, each rule's theoretical arrival time in epoch
 * ms) and `expiresAt`.
 * The functions need `dynamodb:GetItem`, `dynamodb:PutItem`, `dynamodb:DeleteItem` and, for shared rate limits,
 * `dynamodb:UpdateItem` on it, nothing more; whatever lists records (`list`: the suppression list, reports) needs
 * `dynamodb:Scan` too.
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
  /** The rate state each key was last seen in (read, or after this instance's grants): which update form holds. */
  private readonly rateSeen = new Map<string, (number | undefined)[]>();
  /** Per key, the call of this instance trying an unknown or idle rate state, that the others wait for. */
  private readonly rateTurns = new Map<string, Promise<void>>();

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

  /**
   * A page of the live records under `prefix`: one strongly consistent Scan of the whole table, filtered on the
   * server (`begins_with(pk, …)`, not expired, and only items with a `version`: shared rate limits' items have
   * none). DynamoDB applies `Limit` before the filter, so a page holds at most `limit` records, often fewer (even
   * none) when other keys are many, and the cursor (`LastEvaluatedKey` as base64url JSON) may follow a page that
   * turns out to be the last. Records come in the table's hash order, not by key. Every call reads the whole
   * table page by page: for administration and reports, never on a send's path. Needs `dynamodb:Scan`.
   */
  async list<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    const limit = listLimit(options);
    const now = Date.now();
    const conditions = ['attribute_exists(version)', '(attribute_not_exists(expiresAtMs) OR expiresAtMs > :now)'];
    const values: Record<string, AttributeValue> = { ':now': { N: String(now) } };
    // No condition for the empty prefix: every key starts with it, and an empty string value is best not sent.
    if (prefix !== '') {
      conditions.unshift('begins_with(pk, :prefix)');
      values[':prefix'] = { S: prefix };
    }
    const { Items: items = [], LastEvaluatedKey: last } = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        ConsistentRead: true,
        Limit: limit,
        FilterExpression: conditions.join(' AND '),
        ExpressionAttributeValues: values,
        ...(options?.cursor === undefined ? {} : { ExclusiveStartKey: decodeCursor(options.cursor) }),
      }),
    );
    const records: StoredRecord<T>[] = [];
    for (const item of items) {
      const key = item.pk?.S;
      if (key === undefined || !item.value?.S || !item.version?.S) continue;
      const expiresAt = item.expiresAtMs?.N === undefined ? undefined : Number(item.expiresAtMs.N);
      records.push({
        key,
        value: JSON.parse(item.value.S) as T,
        version: item.version.S,
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
    }
    return last === undefined ? { records } : { records, cursor: encodeCursor(last) };
  }

  /**
   * One GCRA step for every rule of a rate limit in a single conditional `UpdateItem`, without a lock or a
   * compare-and-set on the whole state. Per rule the update takes one of two forms, chosen from the last state
   * seen: idle (`tN` absent or before now) sets `tN = now + interval`; busy (`tN` from now up to the last slot the
   * caller would wait for) adds the interval to whatever `tN` is by then. The busy form is relative, so any number
   * of concurrent busy updates all succeed, each taking the next slot, as counters do. A condition fails only
   * when a rule changed form since it was seen (another instance took the first slot after a quiet spell, the
   * rule went quiet, or its slots ran past the caller's wait), which is a bounded number of changes per call;
   * the update is then retried from the state DynamoDB returns (or a strongly consistent read). Within this
   * instance, calls that find the state unknown or idle go one at a time (the first grant makes it busy, and the
   * others then take the relative form) rather than all racing for the idle form.
   */
  async reserveRate(key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant> {
    const received = Date.now();
    const clock = () => request.now + (Date.now() - received);
    let retryAfterMs = 1;
    for (let attempt = 0; attempt < RATE_MAX_ATTEMPTS; attempt++) {
      const release = await this.rateTurn(key, rules, clock);
      try {
        let seen = this.rateSeen.get(key);
        if (!seen) {
          seen = await this.readRate(key, rules.length);
          this.rateSeen.set(key, seen);
        }
        const now = clock();
        const busy = rules.map((_, i) => seen[i] !== undefined && seen[i]! >= now);
        let at = now;
        rules.forEach((rule, i) => {
          if (busy[i]) at = Math.max(at, seen[i]! - tolerance(rule));
        });
        // Every rule's state only moves forward, so a slot too far away by what was seen is too far away now.
        if (at - now > request.maxWaitMs + 1e-6) return { ok: false, retryAfterMs: Math.ceil(at - now - 1e-6) };
        const names: Record<string, string> = {};
        const values: Record<string, AttributeValue> = { ':now': { N: String(now) } };
        const sets: string[] = [];
        const conditions: string[] = [];
        rules.forEach((rule, i) => {
          names[`#t${i}`] = `t${i}`;
          if (busy[i]) {
            values[`:i${i}`] = { N: String(rule.intervalMs) };
            values[`:hi${i}`] = { N: String(now + request.maxWaitMs + tolerance(rule)) };
            sets.push(`#t${i} = #t${i} + :i${i}`);
            conditions.push(`(#t${i} >= :now AND #t${i} <= :hi${i})`);
          } else {
            values[`:n${i}`] = { N: String(now + rule.intervalMs) };
            sets.push(`#t${i} = :n${i}`);
            conditions.push(`(attribute_not_exists(#t${i}) OR #t${i} < :now)`);
          }
        });
        values[':exp'] = { N: String(Math.ceil((now + request.ttlMs) / 1000)) };
        try {
          const { Attributes: updated } = await this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: { pk: { S: key } },
              UpdateExpression: `SET ${sets.join(', ')}, expiresAt = :exp`,
              ConditionExpression: conditions.join(' AND '),
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
              ReturnValues: 'UPDATED_NEW',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          const tats = rules.map((_, i) => Number(updated?.[`t${i}`]?.N));
          // Answers to concurrent updates arrive in any order; the state only moves forward, so the latest wins.
          const known = this.rateSeen.get(key) ?? [];
          this.rateSeen.set(
            key,
            tats.map((tat, i) => Math.max(tat, known[i] ?? tat)),
          );
          let slot = now;
          rules.forEach((rule, i) => {
            // A busy rule's slot follows the value it had just before this update, whatever that turned out to be.
            if (busy[i]) slot = Math.max(slot, tats[i]! - rule.intervalMs - tolerance(rule));
          });
          return { ok: true, at: slot };
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          const item = (error as { Item?: Record<string, AttributeValue> }).Item;
          // DynamoDB returns the item as it was (ALL_OLD); dynalite does not, so the next attempt reads it.
          if (item) this.rateSeen.set(key, rateOf(item, rules.length));
          else this.rateSeen.delete(key);
          retryAfterMs = Math.max(1, Math.ceil(Math.min(...rules.map((rule) => rule.intervalMs))));
        }
      } finally {
        release();
      }
    }
    // Each lost condition means the state changed form under this call (another grant, or time passing): after
    // this many in a row, nothing is granted and the caller is told when to look again.
    return { ok: false, retryAfterMs };
  }

  /**
   * Waits for this call's turn at a rate limit: at once while every rule is known busy (relative updates do not
   * conflict); otherwise behind any call of this instance already trying it. Returns the release.
   */
  private async rateTurn(key: string, rules: readonly RateRule[], clock: () => number): Promise<() => void> {
    for (;;) {
      const seen = this.rateSeen.get(key);
      const now = clock();
      if (seen && rules.every((_, i) => seen[i] !== undefined && seen[i]! >= now)) return () => {};
      const turn = this.rateTurns.get(key);
      if (!turn) {
        let open: () => void = () => {};
        this.rateTurns.set(
          key,
          new Promise<void>((resolve) => {
            open = resolve;
          }),
        );
        return () => {
          this.rateTurns.delete(key);
          open();
        };
      }
      await turn;
    }
  }

  private async readRate(key: string, count: number): Promise<(number | undefined)[]> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    return item ? rateOf(item, count) : [];
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

/** Conditional updates one `reserveRate` call may lose before it gives up (granting nothing). */
const RATE_MAX_ATTEMPTS = 8;

/** How far before its theoretical arrival time a rule's next slot is free: its burst, less the slot itself. */
function tolerance(rule: RateRule): number {
  return (rule.burst - 1) * rule.intervalMs;
}

function rateOf(item: Record<string, AttributeValue>, count: number): (number | undefined)[] {
  return Array.from({ length: count }, (_, i) => {
    const n = item[`t${i}`]?.N;
    return n === undefined ? undefined : Number(n);
  });
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

/** `LastEvaluatedKey` (here `{ pk: { S } }`) as an opaque, URL-safe string. */
function encodeCursor(key: Record<string, AttributeValue>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): Record<string, AttributeValue> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const pk = (key as { pk?: { S?: unknown } } | null | undefined)?.pk?.S;
  if (typeof pk !== 'string') throw new TypeError('list cursor is not one this DynamoDB store issued');
  return { pk: { S: pk } };
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
