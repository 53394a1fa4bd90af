/**
 * The one small persistence interface behind idempotency records, shared health and shared rate limits:
 * four methods, so DynamoDB, Azure Table and the in-process store implement only these.
 * Every write is conditional, so concurrent function instances race safely: exactly one `put` of a new key
 * wins, and an `update` loses when someone else wrote since it read.
 */
export interface StoredRecord<T = unknown> {
  key: string;
  value: T;
  /** Opaque version (a counter, an ETag) for compare-and-set. */
  version: string;
  /** Epoch milliseconds after which the record counts as absent. */
  expiresAt?: number;
}

export interface WriteOptions {
  /** Lifetime from now; the record is treated as absent afterwards (and removed by the store's TTL, if any). */
  ttlMs?: number;
}

export interface StateStore {
  /** The record, or undefined when it is absent or expired. */
  get<T>(key: string): Promise<StoredRecord<T> | undefined>;
  /**
   * Creates the record if there is none (or only an expired one) and returns its version, so the writer can go
   * on with compare-and-set without reading it back. Undefined when a live record exists.
   */
  put<T>(key: string, value: T, options?: WriteOptions): Promise<string | undefined>;
  /** Replaces the record if it is still at `version`; the new version, or undefined when it changed or vanished. */
  update<T>(key: string, value: T, version: string, options?: WriteOptions): Promise<string | undefined>;
  /** Removes the record; with `version`, only if it is still at that version. */
  delete(key: string, version?: string): Promise<void>;
  /** Ends the store's connections, when it holds any (Redis). */
  close?(): Promise<void>;
}

export function expiryFrom(options: WriteOptions | undefined, now = Date.now()): number | undefined {
  return options?.ttlMs === undefined ? undefined : now + options.ttlMs;
}

export function isLive(record: { expiresAt?: number } | undefined, now = Date.now()): boolean {
  return record !== undefined && (record.expiresAt === undefined || record.expiresAt > now);
}
