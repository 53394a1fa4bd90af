import { createHash } from 'node:crypto';
import type { SendResult } from './adapter.ts';
import { IdempotencyConflictError, type MailrouteError, SendInProgressError } from './errors.ts';
import type { StateStore } from './store.ts';

interface IdempotencyRecord {
  status: 'in_progress' | 'completed' | 'ambiguous';
  payloadHash: string;
  result?: SendResult;
  error?: Record<string, unknown>;
}

export type Begun =
  | { kind: 'new'; version: string }
  | { kind: 'completed'; result: SendResult }
  | { kind: 'ambiguous'; error: Record<string, unknown> };

/** A stable hash of a message's JSON, whatever the order of its keys. */
export function payloadHash(input: unknown): string {
  return createHash('sha256').update(canonicalJson(input)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Records an idempotency key before a send and its outcome after, so that a retried or redelivered message
 * is recognized: a completed send returns its recorded result, one in progress elsewhere is retried later,
 * and a different payload under the same key is refused.
 */
export class IdempotencyGuard {
  private readonly store: StateStore;
  private readonly completedTtlMs: number;

  constructor(store: StateStore, options: { completedTtlMs?: number } = {}) {
    this.store = store;
    this.completedTtlMs = options.completedTtlMs ?? 24 * 3_600_000;
  }

  /** Claims the key for this send until `inProgressTtlMs` from now (tied to the caller's deadline). */
  async begin(key: string, hash: string, inProgressTtlMs: number): Promise<Begun> {
    const storeKey = `idem:${key}`;
    const claim: IdempotencyRecord = { status: 'in_progress', payloadHash: hash };
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.store.put(storeKey, claim, { ttlMs: inProgressTtlMs })) {
        const mine = await this.store.get<IdempotencyRecord>(storeKey);
        if (mine) return { kind: 'new', version: mine.version };
        continue;
      }
      const existing = await this.store.get<IdempotencyRecord>(storeKey);
      if (!existing) continue; // expired or released between our put and get: claim again
      if (existing.value.payloadHash !== hash) throw new IdempotencyConflictError(key);
      if (existing.value.status === 'completed' && existing.value.result) {
        return { kind: 'completed', result: existing.value.result };
      }
      if (existing.value.status === 'ambiguous') return { kind: 'ambiguous', error: existing.value.error ?? {} };
      throw new SendInProgressError(key, existing.expiresAt);
    }
    throw new SendInProgressError(key);
  }

  async complete(key: string, version: string, hash: string, result: SendResult): Promise<void> {
    const record: IdempotencyRecord = { status: 'completed', payloadHash: hash, result };
    await this.store.update(`idem:${key}`, record, version, { ttlMs: this.completedTtlMs });
  }

  /** The send may have been delivered: keep the key, so a redelivery reports it instead of sending again. */
  async markAmbiguous(key: string, version: string, hash: string, error: MailrouteError): Promise<void> {
    const record: IdempotencyRecord = { status: 'ambiguous', payloadHash: hash, error: error.toJSON() };
    await this.store.update(`idem:${key}`, record, version, { ttlMs: this.completedTtlMs });
  }

  /** Nothing was delivered: free the key so that a retry can send. */
  async release(key: string, version: string): Promise<void> {
    await this.store.delete(`idem:${key}`, version);
  }
}
