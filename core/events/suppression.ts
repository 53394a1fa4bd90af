import { domainToASCII } from 'node:url';
import type { StateStore, StoredRecord } from '../../stores/store.ts';
import { ConfigurationError, StateStoreError, type SuppressedRecipient } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import type { MailEvent } from './event.ts';

/** Why a recipient is on the list. */
export type SuppressionReason = 'bounced' | 'complained' | 'unsubscribed' | 'provider-suppressed' | 'manual';

/** One suppressed recipient, as the list keeps it under `sup:<address>`. */
export interface SuppressionEntry {
  /** Lower-case, domain in ASCII. */
  address: string;
  reason: SuppressionReason;
  /** The provider whose event put it there; absent for a manual entry. */
  provider?: string;
  /** When the event happened (or the entry was added by hand), ISO 8601. */
  since: string;
  /** The provider's reason or diagnostic, e.g. `smtp; 550 5.1.1 user unknown`. */
  detail?: string;
  /** The provider's message id of the message that bounced or was complained about. */
  providerMessageId?: string;
}

/**
 * A removed entry stays as a tombstone until the time given, so that a late copy of the event that suppressed it
 * (SNS and Event Grid redeliver) does not put it back: only events after the removal do.
 */
interface StoredSuppression extends Partial<SuppressionEntry> {
  address: string;
  removedAt?: string;
}

interface SoftBounces {
  count: number;
  first: string;
  last: string;
}

export interface SuppressionOptions {
  softBounceThreshold?: number;
  softBounceWindowDays?: number;
  unsubscribes?: boolean;
  providerSuppressions?: boolean;
  log?: Logger;
}

/** What applying one event did to the list. */
export type SuppressionChange = 'suppressed' | 'soft-bounce-counted' | 'soft-bounces-reset' | undefined;

const DAY_MS = 86_400_000;
const SUP = 'sup:';
const SOFT = 'soft:';
/** A tombstone is kept this long: longer than any provider redelivers an event (SNS: 23 days at most). */
const TOMBSTONE_MS = 30 * DAY_MS;

/** An address as the list keys it: `Name <A@Exämple.org>` → `a@xn--exmple-cua.org`. */
export function suppressionAddress(address: string): string {
  const bare = (/<([^<>]*)>\s*$/.exec(address)?.[1] ?? address).trim();
  const at = bare.lastIndexOf('@');
  if (at < 0) return bare.toLowerCase();
  const domain = bare.slice(at + 1);
  return `${bare.slice(0, at)}@${domainToASCII(domain) || domain}`.toLowerCase();
}

/**
 * The one suppression list every provider shares, in the state store: a hard bounce, a complaint or an unsubscribe
 * on any provider suppresses the recipient on all of them; soft bounces do after `softBounceThreshold` within the
 * window (a delivery resets the count).
 */
export class SuppressionList {
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly unsubscribes: boolean;
  private readonly providerSuppressions: boolean;

  private readonly store: StateStore;

  constructor(store: StateStore, options: SuppressionOptions = {}) {
    this.store = store;
    this.threshold = options.softBounceThreshold ?? 3;
    this.windowMs = (options.softBounceWindowDays ?? 30) * DAY_MS;
    this.unsubscribes = options.unsubscribes ?? true;
    this.providerSuppressions = options.providerSuppressions ?? true;
  }

  /** The entry of each suppressed address among those given (keyed by the address as given). */
  async check(addresses: readonly string[]): Promise<Map<string, SuppressionEntry>> {
    const found = new Map<string, SuppressionEntry>();
    await Promise.all(
      addresses.map(async (given) => {
        const entry = await this.get(given);
        if (entry) found.set(given, entry);
      }),
    );
    return found;
  }

  async get(address: string): Promise<SuppressionEntry | undefined> {
    const record = await this.read<StoredSuppression>(SUP + suppressionAddress(address), 'read the suppression list');
    return record && isEntry(record.value) ? record.value : undefined;
  }

  /** Adds (or replaces) an entry; an event older than the entry's removal does not put it back. */
  async add(entry: SuppressionEntry): Promise<boolean> {
    const address = suppressionAddress(entry.address);
    const value: SuppressionEntry = { ...entry, address };
    const key = SUP + address;
    for (let i = 0; i < 5; i++) {
      const current = await this.read<StoredSuppression>(key, 'read the suppression list');
      if (!current) {
        if (await this.write(() => this.store.put(key, value))) return true;
        continue;
      }
      if (current.value.removedAt && entry.reason !== 'manual' && entry.since <= current.value.removedAt) return false;
      if (isEntry(current.value) && current.value.since > entry.since) return false;
      if (await this.write(() => this.store.update(key, value, current.version))) return true;
    }
    throw new StateStoreError('add to the suppression list (it kept changing)');
  }

  /** Removes an entry (and its soft-bounce count); true when there was one. */
  async remove(address: string, now = new Date()): Promise<boolean> {
    const normalized = suppressionAddress(address);
    const key = SUP + normalized;
    await this.write(() => this.store.delete(SOFT + normalized));
    for (let i = 0; i < 5; i++) {
      const current = await this.read<StoredSuppression>(key, 'read the suppression list');
      if (!current || !isEntry(current.value)) return false;
      const tombstone: StoredSuppression = { address: normalized, removedAt: now.toISOString() };
      if (await this.write(() => this.store.update(key, tombstone, current.version, { ttlMs: TOMBSTONE_MS })))
        return true;
    }
    throw new StateStoreError('remove from the suppression list (it kept changing)');
  }

  /** Every entry, sorted by address. Needs a store that can list (all built-in ones can). */
  async list(): Promise<SuppressionEntry[]> {
    const list = this.store.list?.bind(this.store);
    if (!list)
      throw new ConfigurationError('this state store cannot list records, so the suppression list cannot be listed');
    const out: SuppressionEntry[] = [];
    let cursor: string | undefined;
    do {
      const page: { records: StoredRecord<StoredSuppression>[]; cursor?: string } = await list<StoredSuppression>(
        SUP,
        cursor === undefined ? {} : { cursor },
      ).catch((cause: unknown) => {
        throw new StateStoreError('list the suppression list', { cause });
      });
      for (const r of page.records) if (isEntry(r.value)) out.push(r.value);
      cursor = page.cursor;
    } while (cursor);
    // A scan may return a record twice (Redis SCAN across a resize): one entry per address.
    const unique = new Map(out.map((e) => [e.address, e]));
    return [...unique.values()].sort((a, b) => a.address.localeCompare(b.address));
  }

  /** Applies one event: suppresses, counts a soft bounce, or resets the count on a delivery. */
  async apply(event: MailEvent): Promise<SuppressionChange> {
    if (!event.recipient) return undefined;
    const reason = this.reasonOf(event);
    const base = {
      address: event.recipient,
      provider: event.provider,
      since: event.eventTime,
      ...(event.diagnostic || event.reason ? { detail: (event.diagnostic ?? event.reason) as string } : {}),
      ...(event.providerMessageId ? { providerMessageId: event.providerMessageId } : {}),
    };
    if (reason) return (await this.add({ ...base, reason })) ? 'suppressed' : undefined;
    if (event.type === 'bounced') return this.countSoftBounce(base);
    if (event.type === 'delivered') {
      const key = SOFT + suppressionAddress(event.recipient);
      if (!(await this.read(key, 'read a soft-bounce count'))) return undefined;
      await this.write(() => this.store.delete(key));
      return 'soft-bounces-reset';
    }
    return undefined;
  }

  private reasonOf(event: MailEvent): SuppressionReason | undefined {
    if (event.type === 'bounced' && event.bounceType === 'hard') return 'bounced';
    if (event.type === 'complained') return 'complained';
    // An unsubscribe from one topic of a list (SES `reason: "topic news"`) is the list's business, not a reason to
    // stop every mail; leaving every topic (or an unsubscribe with no topic) is.
    if (event.type === 'unsubscribed' && this.unsubscribes && !/(^|: )topic /.test(event.reason ?? '')) {
      return 'unsubscribed';
    }
    if (event.type === 'rejected' && this.providerSuppressions && /suppress/i.test(event.reason ?? '')) {
      return 'provider-suppressed';
    }
    return undefined;
  }

  private async countSoftBounce(entry: Omit<SuppressionEntry, 'reason'>): Promise<SuppressionChange> {
    const key = SOFT + suppressionAddress(entry.address);
    for (let i = 0; i < 5; i++) {
      const current = await this.read<SoftBounces>(key, 'read a soft-bounce count');
      const inWindow = current && Date.parse(entry.since) - Date.parse(current.value.first) < this.windowMs;
      const next: SoftBounces = inWindow
        ? { count: current.value.count + 1, first: current.value.first, last: entry.since }
        : { count: 1, first: entry.since, last: entry.since };
      const ttlMs = this.windowMs;
      const written = current
        ? await this.write(() => this.store.update(key, next, current.version, { ttlMs }))
        : await this.write(() => this.store.put(key, next, { ttlMs }));
      if (!written) continue;
      if (next.count < this.threshold) return 'soft-bounce-counted';
      const detail = `${next.count} soft bounces since ${next.first}${entry.detail ? `; last: ${entry.detail}` : ''}`;
      return (await this.add({ ...entry, reason: 'bounced', detail })) ? 'suppressed' : 'soft-bounce-counted';
    }
    throw new StateStoreError('count a soft bounce (the count kept changing)');
  }

  private async read<T>(key: string, operation: string): Promise<StoredRecord<T> | undefined> {
    try {
      return await this.store.get<T>(key);
    } catch (cause) {
      throw new StateStoreError(operation, { cause });
    }
  }

  private async write(op: () => Promise<unknown>): Promise<boolean> {
    try {
      return (await op()) !== undefined;
    } catch (cause) {
      throw new StateStoreError('write the suppression list', { cause });
    }
  }
}

function isEntry(value: StoredSuppression): value is SuppressionEntry {
  return value.removedAt === undefined && typeof value.reason === 'string';
}

/** The error's form of an entry. */
export function suppressedRecipient(address: string, entry: SuppressionEntry): SuppressedRecipient {
  return { address, reason: entry.reason, ...(entry.provider ? { provider: entry.provider } : {}), since: entry.since };
}
