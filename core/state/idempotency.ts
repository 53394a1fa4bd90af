import { createHash } from 'node:crypto';
import type { StateStore } from '../../stores/store.ts';
import type { Adapter, AttemptRecord, SendResult } from '../contract/adapter.ts';
import {
  IdempotencyConflictError,
  InvalidMessageError,
  isMailrouteError,
  type MailrouteError,
  SendInProgressError,
  StateNotRecordedError,
  StateStoreError,
} from '../errors.ts';
import { jsonBoundsIssue } from '../message/json-bounds.ts';
import { type Logger, silentLogger } from '../util/log.ts';
import { sleep } from '../util/sleep.ts';

/**
 * What the store holds under `idem:<key>`. The statuses:
 * - `claimed`: an instance holds the key and has handed nothing to a provider (yet, or since a definite failure);
 * - `sending`: `attempt` was handed to a provider and its outcome is not known;
 * - `completed`: delivered; `result` is what was answered;
 * - `ambiguous`: may have been delivered and could not be settled: never sent again.
 */
export interface IdempotencyRecord {
  status: 'claimed' | 'sending' | 'completed' | 'ambiguous';
  payloadHash: string;
  /** claimed / sending: epoch ms, by the holder's clock, until which the holder may still be working. */
  leaseUntil?: number;
  /** sending / ambiguous: the attempt that may have delivered the message. */
  attempt?: AttemptRecord;
  /** When the message was first handed to each entry: a provider's repeatable-request window starts there. */
  firstSent?: Record<string, number>;
  /** Epoch ms when a redelivery first found the attempt unresolved: settling may keep failing only so long. */
  unresolvedSince?: number;
  result?: SendResult;
  error?: Record<string, unknown>;
}

export type Begun =
  | { kind: 'new'; claim: Claim }
  | { kind: 'completed'; result: SendResult }
  | { kind: 'ambiguous'; error: Record<string, unknown> }
  /** An attempt began under an earlier claim whose lease ran out: settle it before anything is sent. */
  | { kind: 'unresolved'; claim: Claim; attempt: AttemptRecord };

export interface IdempotencyOptions {
  /** How long a completed (or ambiguous) record is kept; default 24 h. */
  completedTtlMs?: number;
  /**
   * How far two instances' clocks may disagree. A lease is only taken over this long after it ran out by the
   * reader's clock; skew never causes a second send anyway (a claim whose attempt began is settled or declared
   * ambiguous, never re-sent by time), it only makes an early takeover cost a retry. Default 5 s.
   */
  clockSkewToleranceMs?: number;
  log?: Logger;
}

/**
 * A stable hash of a message's JSON, whatever the order of its keys: SHA-256 of its canonical JSON (keys sorted,
 * `undefined` fields left out), the same bytes as ever, so that records written before still match. Bounded: a
 * value over the message bounds (core/message/json-bounds.ts: nested deeper than 64 levels, over 100,000 values
 * or 64 MiB of text, a BigInt) is an `InvalidMessageError` naming the field and the limit, never a stack overflow;
 * within them it is written without recursion and fed to the hash in pieces, never built whole.
 */
export function payloadHash(input: unknown): string {
  const issue = jsonBoundsIssue(input);
  if (issue) throw new InvalidMessageError([issue]);
  const hash = createHash('sha256');
  let buffered = '';
  writeCanonicalJson(input, (text) => {
    buffered += text;
    if (buffered.length >= HASH_CHUNK) {
      hash.update(buffered);
      buffered = '';
    }
  });
  return hash.update(buffered).digest('hex');
}

/** Characters given to the hash at once; also the longest piece a string is escaped in. */
const HASH_CHUNK = 64 * 1024;

/** A piece of punctuation to write, on the stack beside the values still to write. */
class Text {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** A value to write, and whether it is a list entry (where `undefined` is written as nothing, as `join` did). */
interface Pending {
  value: unknown;
  inList: boolean;
}

/**
 * Canonical JSON, written in order through `write`, with an explicit stack instead of recursion. What it writes is
 * exactly what the recursive form wrote: lists as `[a,b]`, objects with their defined fields sorted by UTF-16 code
 * units, every other value as `JSON.stringify` gives it (`undefined` as nothing in a list, `undefined` in an
 * object, as the template it went through did).
 */
function writeCanonicalJson(value: unknown, write: (text: string) => void): void {
  const stack: (Pending | Text)[] = [{ value, inList: false }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    if (next instanceof Text) {
      write(next.text);
      continue;
    }
    const v = next.value;
    if (Array.isArray(v)) {
      write('[');
      stack.push(new Text(']'));
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], inList: true });
        if (i > 0) stack.push(new Text(','));
      }
    } else if (v && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, field]) => field !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      write('{');
      stack.push(new Text('}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, field] = entries[i]!;
        stack.push({ value: field, inList: false });
        stack.push(new Text(':'));
        stack.push({ value: key, inList: false });
        if (i > 0) stack.push(new Text(','));
      }
    } else if (typeof v === 'string') writeJsonString(v, write);
    else {
      const text = JSON.stringify(v) as string | undefined;
      write(text ?? (next.inList ? '' : 'undefined'));
    }
  }
}

/**
 * `JSON.stringify(text)`, in pieces of at most HASH_CHUNK characters (a long string escaped whole could take six
 * times its size). A piece never ends between the two halves of a surrogate pair, which would each be escaped as
 * a lone surrogate.
 */
function writeJsonString(text: string, write: (text: string) => void): void {
  if (text.length <= HASH_CHUNK) {
    write(JSON.stringify(text));
    return;
  }
  write('"');
  for (let start = 0; start < text.length; ) {
    let end = Math.min(start + HASH_CHUNK, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    write(JSON.stringify(text.slice(start, end)).slice(1, -1));
    start = end;
  }
  write('"');
}

/** Every store call goes through here: a raw SDK error never leaves this module, only a `StateStoreError`. */
async function guarded<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isMailrouteError(error)) throw error;
    throw new StateStoreError(operation, { cause: error });
  }
}

/**
 * Records an idempotency key before a send, the moment each attempt is handed to a provider, and the outcome
 * after, so that a retried or redelivered message is recognized: a completed send returns its recorded result,
 * one in progress elsewhere is retried later, one whose attempt began under a lease that ran out is settled (or
 * declared ambiguous) rather than sent again, and a different payload under the same key is refused.
 *
 * Leases are fields of the record, not the store's expiry: a record whose attempt began never vanishes by time,
 * and every change is a compare-and-set on the record's version, so an instance whose lease was taken over
 * (a slow send, a skewed clock) finds out at its next write instead of sending.
 */
export class IdempotencyGuard {
  private readonly store: StateStore;
  private readonly completedTtlMs: number;
  private readonly toleranceMs: number;
  private readonly log: Logger;

  constructor(store: StateStore, options: IdempotencyOptions = {}) {
    this.store = store;
    this.completedTtlMs = options.completedTtlMs ?? 24 * 3_600_000;
    this.toleranceMs = options.clockSkewToleranceMs ?? 5_000;
    this.log = options.log ?? silentLogger;
  }

  /** Claims the key for `leaseMs` (the send is bounded by it), or says what an earlier send left. */
  async begin(key: string, hash: string, leaseMs: number): Promise<Begun> {
    const storeKey = `idem:${key}`;
    const ttlMs = Math.max(this.completedTtlMs, 2 * leaseMs + this.toleranceMs);
    const claimOf = (version: string, record: IdempotencyRecord) =>
      new Claim({
        store: this.store,
        key,
        storeKey,
        version,
        record,
        ttlMs,
        completedTtlMs: this.completedTtlMs,
        log: this.log,
      });
    for (let round = 0; round < 5; round++) {
      const now = Date.now();
      const fresh: IdempotencyRecord = { status: 'claimed', payloadHash: hash, leaseUntil: now + leaseMs };
      const created = await guarded('claim the idempotency key', () => this.store.put(storeKey, fresh, { ttlMs }));
      if (created) return { kind: 'new', claim: claimOf(created, fresh) };
      const existing = await guarded('read the idempotency record', () => this.store.get<IdempotencyRecord>(storeKey));
      if (!existing) continue; // released between our put and get: claim again
      const record = upgrade(existing.value, existing.expiresAt);
      if (record.payloadHash !== hash) throw new IdempotencyConflictError(key);
      if (record.status === 'completed' && record.result) return { kind: 'completed', result: record.result };
      if (record.status === 'ambiguous') return { kind: 'ambiguous', error: record.error ?? {} };
      const freeAt = (record.leaseUntil ?? 0) + this.toleranceMs;
      if (now < freeAt) throw new SendInProgressError(key, freeAt);
      // The lease ran out. Taken over with compare-and-set: of several redeliveries, one wins.
      const attempt = record.status === 'sending' ? record.attempt : undefined;
      const taken: IdempotencyRecord = attempt
        ? { ...record, leaseUntil: now + leaseMs, unresolvedSince: record.unresolvedSince ?? now }
        : { ...record, status: 'claimed', leaseUntil: now + leaseMs };
      const version = await guarded('take over an expired claim', () =>
        this.store.update(storeKey, taken, existing.version, { ttlMs }),
      );
      if (!version) continue;
      if (attempt) {
        this.log.warn('claim expired mid-send: settling', { idempotencyKey: key, attempt });
        return { kind: 'unresolved', claim: claimOf(version, taken), attempt };
      }
      this.log.info('claim expired before any send: taken over', { idempotencyKey: key });
      return { kind: 'new', claim: claimOf(version, taken) };
    }
    throw new SendInProgressError(key);
  }
}

/** Records written by the previous layout (`in_progress`, leased by the store's expiry) read as claims. */
function upgrade(record: IdempotencyRecord, expiresAt: number | undefined): IdempotencyRecord {
  const status = record.status as string;
  return status === 'in_progress' ? { ...record, status: 'claimed', leaseUntil: expiresAt ?? 0 } : record;
}

interface ClaimState {
  store: StateStore;
  key: string;
  storeKey: string;
  version: string;
  record: IdempotencyRecord;
  ttlMs: number;
  completedTtlMs: number;
  log: Logger;
}

/** Backoff for the write that records a delivered message: it is retried, within the deadline, before giving up. */
const COMPLETE_BACKOFF_MS = [50, 100, 200, 400, 800, 1_600];

/**
 * One instance's hold on an idempotency key. Each write is a compare-and-set on the version this instance wrote
 * last: losing one means another instance took the claim over.
 */
export class Claim {
  private readonly s: ClaimState;

  constructor(state: ClaimState) {
    this.s = state;
  }

  get key(): string {
    return this.s.key;
  }

  get record(): IdempotencyRecord {
    return this.s.record;
  }

  /** The attempt this claim has recorded as handed to a provider, if any. */
  get attempt(): AttemptRecord | undefined {
    return this.s.record.status === 'sending' ? this.s.record.attempt : undefined;
  }

  /**
   * Records that the message is about to be handed to `adapter`. Throws, and nothing may be sent, when the store
   * fails or another instance has taken the claim over.
   */
  async beginAttempt(adapter: Adapter, token?: string): Promise<AttemptRecord> {
    const now = Date.now();
    const firstSentAt = this.s.record.firstSent?.[adapter.name] ?? now;
    const attempt: AttemptRecord = {
      name: adapter.name,
      provider: adapter.provider,
      mode: adapter.mode,
      startedAt: now,
      firstSentAt,
      ...(token ? { token } : {}),
    };
    const next: IdempotencyRecord = {
      ...this.s.record,
      status: 'sending',
      attempt,
      firstSent: { ...this.s.record.firstSent, [adapter.name]: firstSentAt },
    };
    if (!(await this.write('record the attempt before sending', next))) {
      throw new SendInProgressError(this.s.key, undefined, {
        reason: `the claim on idempotency key "${this.s.key}" was taken over by another instance before this one sent it; not sending`,
      });
    }
    return attempt;
  }

  /**
   * The attempt failed for certain (refused, rejected, never connected): nothing is in flight any more. If this
   * cannot be written the attempt stays recorded, and a redelivery settles it or declares it ambiguous: the
   * message is never lost, at worst set aside.
   */
  async attemptFailed(options: { forgetFirstSent?: boolean } = {}): Promise<void> {
    const { attempt, ...rest } = this.s.record;
    const firstSent = { ...rest.firstSent };
    if (options.forgetFirstSent && attempt) delete firstSent[attempt.name];
    await this.bestEffort('clear a failed attempt', { ...rest, status: 'claimed', firstSent });
  }

  /**
   * Records the delivered result. The store is retried with backoff until `deadline`; a claim taken over
   * meanwhile is overwritten (the message was delivered: that is the truth to keep). Returns the warnings to
   * give the caller: the message counts as sent either way.
   */
  async complete(result: SendResult, deadline?: number): Promise<Record<string, unknown>[]> {
    const record: IdempotencyRecord = { status: 'completed', payloadHash: this.s.record.payloadHash, result };
    const warnings: Record<string, unknown>[] = [];
    let lastError: unknown;
    for (let round = 0; round <= COMPLETE_BACKOFF_MS.length; round++) {
      try {
        const version = await this.s.store.update(this.s.storeKey, record, this.s.version, {
          ttlMs: this.s.completedTtlMs,
        });
        if (version) {
          this.adopt(version, record);
          return warnings;
        }
        // Lost: another instance took the claim over (a lease that ran out, a clock ahead of ours).
        const current = await this.s.store.get<IdempotencyRecord>(this.s.storeKey);
        if (current?.value.status === 'completed') return warnings; // it settled the same delivery
        if (warnings.length === 0) {
          const warning = new StateNotRecordedError(
            `the claim on idempotency key "${this.s.key}" was taken over while this instance was sending; the delivered result is recorded over it`,
            {
              messageId: result.messageId,
              ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
            },
          );
          this.s.log.warn('claim lost while sending', { idempotencyKey: this.s.key, current: current?.value.status });
          warnings.push({ ...warning.toJSON(), code: 'CLAIM_LOST' });
        }
        if (current) this.s.version = current.version;
        else {
          const created = await this.s.store.put(this.s.storeKey, record, { ttlMs: this.s.completedTtlMs });
          if (created) return warnings;
        }
        continue;
      } catch (error) {
        lastError = error;
      }
      const wait = COMPLETE_BACKOFF_MS[round];
      if (wait === undefined || (deadline !== undefined && Date.now() + wait > deadline)) break;
      await sleep(wait);
    }
    const warning = new StateNotRecordedError(
      `the message was delivered (${result.providerMessageId ?? result.messageId}) but the state store failed to record it; a redelivery will settle it or declare it ambiguous, never send it blindly`,
      {
        messageId: result.messageId,
        ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
      },
      { cause: lastError },
    );
    this.s.log.error('delivered, state not recorded', { idempotencyKey: this.s.key, error: warning.toJSON() });
    warnings.push(warning.toJSON());
    return warnings;
  }

  /** May have been delivered and cannot be settled: a redelivery reports it and never sends it again. */
  async markAmbiguous(error: MailrouteError): Promise<void> {
    const { leaseUntil: _, ...rest } = this.s.record;
    const record: IdempotencyRecord = { ...rest, status: 'ambiguous', error: error.toJSON() };
    await this.bestEffort('record an ambiguous send', record, this.s.completedTtlMs);
  }

  /** Nothing was delivered: free the key so that a retry can send. A failure leaves a claim that times out. */
  async release(): Promise<void> {
    try {
      await this.s.store.delete(this.s.storeKey, this.s.version);
    } catch (error) {
      this.s.log.warn('could not release an idempotency claim; it is taken over when its lease runs out', {
        idempotencyKey: this.s.key,
        error: (error as Error)?.message,
      });
    }
  }

  private adopt(version: string, record: IdempotencyRecord): void {
    this.s.version = version;
    this.s.record = record;
  }

  /** A compare-and-set of the claim: true when written, false when another instance took it over. */
  private async write(operation: string, record: IdempotencyRecord, ttlMs = this.s.ttlMs): Promise<boolean> {
    const version = await guarded(operation, () =>
      this.s.store.update(this.s.storeKey, record, this.s.version, { ttlMs }),
    );
    if (version) this.adopt(version, record);
    return version !== undefined;
  }

  private async bestEffort(operation: string, record: IdempotencyRecord, ttlMs = this.s.ttlMs): Promise<void> {
    try {
      if (!(await this.write(operation, record, ttlMs))) {
        this.s.log.warn(`could not ${operation}: the claim was taken over`, { idempotencyKey: this.s.key });
      }
    } catch (error) {
      this.s.log.warn(`could not ${operation}`, { idempotencyKey: this.s.key, error: (error as Error)?.message });
    }
  }
}
