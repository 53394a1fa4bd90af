import { createHash } from 'node:crypto';
import { type NamedKeyCredential, odata, TableClient, type TableEntity } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { reserveByCompareAndSet } from '../core/routing/rate-limit.ts';
import { listLimit } from './memory.ts';
// The same contract types as the other stores import, on purpose: each implements store.ts's StateStore.
import {
  expiryFrom,
  isLive,
  type ListOptions,
  type ListPage,
  type RateGrant,
  type RateRequest,
  type RateRule,
  type StateStore,
  type StoredRecord,
  type WriteOptions,
} from './store.ts';

export type AzureTableStoreOptions =
  | { client: TableClient }
  | { tableName: string; connectionString: string }
  | { tableName: string; endpoint: string; credential: TokenCredential | NamedKeyCredential };

interface StateEntity {
  /** The original key, so a row can be recognised in Storage Explorer: the RowKey is encoded. */
  key: string;
  value: string;
  /** Epoch ms as Edm.Int64 (read back as a bigint); absent when the record does not expire. */
  expiresAt?: bigint;
}

interface RawRecord {
  etag: string;
  value: string;
  expiresAt?: number;
}

/**
 * Idempotency records, shared health and shared rate limits in one Azure Storage table.
 *
 * Layout: PartitionKey = two hex digits of the key's SHA-256 (spreads load over 256 partitions; every
 * operation but `list` addresses one entity, so nothing else queries across them), RowKey = the key in base64url (RowKey forbids
 * `/ \ # ?` and control characters), or `.` + its SHA-256 when that would pass the RowKey limit (1 KiB of
 * UTF-16, i.e. 512 characters, which Azurite enforces).
 * Properties: `key`, `value` (JSON; a string property holds at most 64 KiB), `expiresAt` (Int64 epoch ms).
 *
 * Azure Table has no TTL: expired rows stay until overwritten or deleted, reads treat them as absent and `put`
 * replaces them. The version is the entity's ETag, prefixed with the expiry it was written with
 * (`<expiresAt>;<etag>`), so `update` refuses an expired record without a read: while the ETag still matches, the
 * row is exactly the one that expiry belongs to.
 */
export class AzureTableStore implements StateStore {
  private readonly client: TableClient;

  constructor(options: AzureTableStoreOptions) {
    this.client = 'client' in options ? options.client : createTableClient(options);
  }

  async get<T>(key: string): Promise<StoredRecord<T> | undefined> {
    const record = await this.read(key);
    if (!record || !isLive(record)) return undefined;
    return {
      key,
      value: JSON.parse(record.value) as T,
      version: versionOf(record.etag, record.expiresAt),
      ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt }),
    };
  }

  async put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined> {
    const expiresAt = expiryFrom(options);
    const entity = toEntity(key, value, expiresAt);
    // Bounded: each round means another writer created or deleted the row meanwhile.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const { etag } = await this.client.createEntity(entity);
        return written(etag, expiresAt);
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
      }
      const existing = await this.read(key);
      if (!existing) continue;
      if (isLive(existing)) return undefined;
      try {
        // Conditional on the expired row's ETag: of several writers reviving the same key, one wins.
        const { etag } = await this.client.updateEntity(entity, 'Replace', { etag: existing.etag });
        return written(etag, expiresAt);
      } catch (error) {
        const status = statusOf(error);
        if (status === 412) return undefined;
        if (status !== 404) throw error;
      }
    }
    return undefined;
  }

  async update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined> {
    const parsed = parseVersion(version);
    if (!parsed || !isLive(parsed)) return undefined;
    const expiresAt = expiryFrom(options);
    try {
      const { etag } = await this.client.updateEntity(toEntity(key, value, expiresAt), 'Replace', {
        etag: parsed.etag,
      });
      return written(etag, expiresAt);
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 404) return undefined;
      throw error;
    }
  }

  async delete(key: string, version?: string): Promise<void> {
    const etag = version === undefined ? '*' : parseVersion(version)?.etag;
    if (etag === undefined) return;
    const { partitionKey, rowKey } = addressOf(key);
    try {
      await this.client.deleteEntity(partitionKey, rowKey, { etag });
    } catch (error) {
      const status = statusOf(error);
      if (status !== 404 && status !== 412) throw error;
    }
  }

  /**
   * A page of the live records under `prefix`. The PartitionKey is a hash and the RowKey an encoding, so neither
   * keeps keys' order: this is one query across the whole table on the `key` property, as a range
   * (`key ge prefix and key lt` the prefix with its last character moved one up), which Azure evaluates by reading
   * every row. The cursor is the SDK's continuation token; Azure may end a page early (at most 1000 rows, five
   * seconds, a partition boundary), even with no records in it, and a token can follow the last page. Expired rows
   * (Azure Table has no TTL) are dropped here, so pages can be shorter still. Order: by partition, not by key.
   * Shared rate limits are records here (see `reserveRate`), so they are listed like any other under their key.
   */
  async list<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>> {
    // Azure's $top stops at 1000.
    const limit = Math.min(listLimit(options), 1000);
    const upper = successor(prefix);
    const filter =
      prefix === ''
        ? undefined
        : upper === undefined
          ? odata`key ge ${prefix}`
          : odata`key ge ${prefix} and key lt ${upper}`;
    const pages = this.client
      .listEntities<StateEntity>(filter === undefined ? {} : { queryOptions: { filter } })
      .byPage({ maxPageSize: limit, ...(options?.cursor === undefined ? {} : { continuationToken: options.cursor }) });
    const { value: page } = await pages.next();
    const now = Date.now();
    const records: StoredRecord<T>[] = [];
    for (const entity of page ?? []) {
      // The range is exact for ordinal comparison; checked again so that no other collation can leak keys in.
      if (typeof entity.key !== 'string' || !entity.key.startsWith(prefix) || typeof entity.value !== 'string')
        continue;
      if (!entity.etag) continue;
      const expiresAt = entity.expiresAt === undefined ? undefined : Number(entity.expiresAt);
      if (!isLive({ expiresAt }, now)) continue;
      records.push({
        key: entity.key,
        value: JSON.parse(entity.value) as T,
        version: versionOf(entity.etag, expiresAt),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
    }
    const cursor = page?.continuationToken;
    return cursor ? { records, cursor } : { records };
  }

  /**
   * Shared rate limits by ETag compare-and-set, Azure Table having no conditional arithmetic: the rules' state is
   * one row (`get`, then `update` at its ETag), and a lost round is retried after a random, growing backoff. This
   * instance's concurrent callers for a key are served in batches by one compare-and-set at a time, so each
   * instance is a single contender. See `reserveByCompareAndSet`.
   */
  reserveRate(key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant> {
    return reserveByCompareAndSet(this, key, rules, request);
  }

  /** The row as stored, expired or not; undefined when there is none. */
  private async read(key: string): Promise<RawRecord | undefined> {
    const { partitionKey, rowKey } = addressOf(key);
    try {
      const entity = await this.client.getEntity<StateEntity>(partitionKey, rowKey);
      return {
        etag: entity.etag,
        value: entity.value,
        ...(entity.expiresAt === undefined ? {} : { expiresAt: Number(entity.expiresAt) }),
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

function createTableClient(options: Exclude<AzureTableStoreOptions, { client: TableClient }>): TableClient {
  if ('connectionString' in options) {
    // Azurite and other local emulators speak plain HTTP, which the SDK refuses unless told.
    const insecure = /(^|;)\s*(TableEndpoint=http:|DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true)/i.test(
      options.connectionString,
    );
    return TableClient.fromConnectionString(options.connectionString, options.tableName, {
      allowInsecureConnection: insecure,
    });
  }
  const clientOptions = { allowInsecureConnection: options.endpoint.startsWith('http:') };
  const { credential } = options;
  return 'getToken' in credential
    ? new TableClient(options.endpoint, options.tableName, credential, clientOptions)
    : new TableClient(options.endpoint, options.tableName, credential, clientOptions);
}

function addressOf(key: string): { partitionKey: string; rowKey: string } {
  const digest = createHash('sha256').update(key).digest();
  const encoded = Buffer.from(key).toString('base64url');
  // `.` is outside the base64url alphabet, so a hashed RowKey never equals an encoded one.
  const rowKey = encoded.length <= 512 ? encoded : `.${digest.toString('base64url')}`;
  return { partitionKey: digest.toString('hex', 0, 1), rowKey };
}

/**
 * The least string above every string that starts with `prefix`, in UTF-16 code unit order: the prefix with its
 * last unit one up (units at U+FFFF dropped first). Undefined when there is none (empty, or all U+FFFF).
 */
function successor(prefix: string): string | undefined {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xffff) end -= 1;
  if (end === 0) return undefined;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}

function toEntity(key: string, value: unknown, expiresAt: number | undefined): TableEntity<Record<string, unknown>> {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`State store value for "${key}" is not JSON-serializable`);
  return {
    ...addressOf(key),
    key,
    value: json,
    // Typed explicitly: an untyped JSON number this large is not reliably read back as an exact integer.
    ...(expiresAt === undefined ? {} : { expiresAt: { value: String(expiresAt), type: 'Int64' } }),
  };
}

/** The version of a row just written; the service always answers a write with its new ETag. */
function written(etag: string | undefined, expiresAt: number | undefined): string {
  if (!etag) throw new Error('Azure Table answered a write without an ETag');
  return versionOf(etag, expiresAt);
}

function versionOf(etag: string, expiresAt: number | undefined): string {
  return `${expiresAt ?? ''};${etag}`;
}

/** Undefined for a string this store never issued: it cannot match any row, and Azure answers 400 to a bad ETag. */
function parseVersion(version: string): { etag: string; expiresAt?: number } | undefined {
  const match = /^(\d*);(W\/".+"|".+")$/s.exec(version);
  if (!match) return undefined;
  const etag = match[2]!;
  return match[1] ? { etag, expiresAt: Number(match[1]) } : { etag };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
