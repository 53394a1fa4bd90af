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

export interface ListOptions {
  /** The most records in one page; default 1000. A page may hold fewer even when more follow. */
  limit?: number;
  /** Where the previous page stopped. */
  cursor?: string;
}

export interface ListPage<T> {
  records: StoredRecord<T>[];
  /** Absent on the last page. */
  cursor?: string;
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
  /**
   * Optional: the live records whose key starts with `prefix`, a page at a time (`cursor` from the previous page;
   * none when it was the last). For administration and reports (the suppression list, event counts), never on a
   * send's path: it may scan the whole store. A store without it cannot list suppressions (lookups still work).
   */
  list?<T>(prefix: string, options?: ListOptions): Promise<ListPage<T>>;
  /**
   * Optional: reserves one send slot against shared rate rules in one atomic step of the store, so that
   * instances sharing it never grant more than the rules allow, however many race (see `RateRule`). The four
   * methods above are not used for it. A store without it is driven through `get`/`put`/`update` instead
   * (compare-and-set with jittered backoff; correct, but more round trips under contention).
   */
  reserveRate?(key: string, rules: readonly RateRule[], request: RateRequest): Promise<RateGrant>;
}

/**
 * One shared rate rule in the form the stores keep it: the generic cell rate algorithm (GCRA). The rule's whole
 * state is one number, its "theoretical arrival time" `tat` (epoch ms, the caller's clock): a slot is free from
 * `tat - (burst - 1) * intervalMs` on, and taking it moves `tat` to `max(tat, now) + intervalMs`. So at most
 * `burst` slots are granted at once and one more every `intervalMs`, in any order of concurrent callers.
 */
export interface RateRule {
  /** Milliseconds between slots: the rule's window divided by its limit. */
  intervalMs: number;
  /** Slots that may be granted at once after a quiet spell (at least 1). */
  burst: number;
}

export interface RateRequest {
  /** The caller's clock (epoch ms) when it asked; a store retrying internally adds the time that passed. */
  now: number;
  /** The latest slot the caller takes is `now + maxWaitMs` (0: only a slot free now). */
  maxWaitMs: number;
  /**
   * Lifetime of the rules' state after a write: at least as long as any `tat` stays ahead of the clock, so it
   * only lets idle state be removed.
   */
  ttlMs: number;
}

/**
 * `at`: the granted slot (epoch ms, the caller's clock; `now` or later: wait until then). Not granted: the next
 * slot is `retryAfterMs` away, more than the caller would wait, and nothing was reserved.
 */
export type RateGrant = { ok: true; at: number } | { ok: false; retryAfterMs: number };

export function expiryFrom(options: WriteOptions | undefined, now = Date.now()): number | undefined {
  return options?.ttlMs === undefined ? undefined : now + options.ttlMs;
}

export function isLive(record: { expiresAt?: number } | undefined, now = Date.now()): boolean {
  return record !== undefined && (record.expiresAt === undefined || record.expiresAt > now);
}
