import type { StateStore, StoredRecord } from '../../stores/store.ts';
import { ConfigurationError, StateStoreError } from '../errors.ts';

/**
 * Counts for one provider and day: `sends` (recipients mailroute handed to it, from the correlation records) and
 * one per event type (`sent`, `delivered`, `bounced`, `bounced.hard`, `bounced.soft`, `complained`, ...).
 */
export type Counts = Record<string, number>;

export interface ProviderStats {
  provider: string;
  counts: Counts;
  /** Hard bounces (and soft ones that gave up) per recipient sent: what SES and others review accounts by. */
  bounceRate?: number;
  complaintRate?: number;
}

const SHARDS = 8;
const KEEP_MS = 400 * 86_400_000;

/**
 * Daily event counters per provider in the state store, for `mailroute events stats`. Each counter record is one of
 * a few shards, picked at random, so that concurrent intakes rarely race on one record; a count that cannot be
 * written after a few tries is dropped (and logged by the caller). Sends are not counted here (that would be two
 * more store round trips on every send): they are read from the correlation records each send writes anyway, so
 * their count reaches back as far as `events.correlationTtlDays`.
 */
export class EventStats {
  private readonly store: StateStore;
  private readonly random: () => number;

  constructor(store: StateStore, random: () => number = Math.random) {
    this.store = store;
    this.random = random;
  }

  static day(time: string | number | Date): string {
    const date = new Date(time);
    return (Number.isNaN(date.getTime()) ? new Date() : date).toISOString().slice(0, 10);
  }

  async add(provider: string, counts: Counts, when: string | number | Date = Date.now()): Promise<void> {
    const key = `stats:${EventStats.day(when)}:${provider}:${Math.floor(this.random() * SHARDS)}`;
    for (let i = 0; i < 6; i++) {
      const current = await this.store.get<Counts>(key);
      const next: Counts = { ...(current?.value ?? {}) };
      for (const [type, n] of Object.entries(counts)) next[type] = (next[type] ?? 0) + n;
      const written = current
        ? await this.store.update(key, next, current.version, { ttlMs: KEEP_MS })
        : await this.store.put(key, next, { ttlMs: KEEP_MS });
      if (written !== undefined) return;
    }
    throw new StateStoreError('count an event (the counter kept changing)');
  }

  /** Totals per provider over the days from `since` (YYYY-MM-DD) to `until`, with bounce and complaint rates. */
  async summary(since: string, until = EventStats.day(Date.now())): Promise<ProviderStats[]> {
    const totals = new Map<string, Counts>();
    await this.scan<Counts>('stats:', (record) => {
      const [, day, provider] = record.key.split(':');
      if (!day || !provider || day < since || day > until) return;
      const into = totals.get(provider) ?? {};
      for (const [type, n] of Object.entries(record.value)) into[type] = (into[type] ?? 0) + n;
      totals.set(provider, into);
    });
    await this.scan<SentCount>('sent:m:', (record) => {
      const { provider, sentAt, recipients } = record.value;
      const day = typeof sentAt === 'string' ? sentAt.slice(0, 10) : '';
      if (!provider || day < since || day > until) return;
      const into = totals.get(provider) ?? {};
      into.sends = (into.sends ?? 0) + (typeof recipients === 'number' ? recipients : 1);
      totals.set(provider, into);
    });
    return [...totals]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([provider, counts]) => {
        // Recipients mailroute sent to (`sends`), else the provider's own `sent` events, else what was reported.
        const sent = counts.sends || counts.sent || (counts.delivered ?? 0) + (counts.bounced ?? 0);
        const rate = (n: number | undefined) =>
          sent > 0 ? Math.round(((n ?? 0) / sent) * 10_000) / 10_000 : undefined;
        const bounceRate = rate(counts['bounced.hard']);
        const complaintRate = rate(counts.complained);
        return {
          provider,
          counts,
          ...(bounceRate === undefined ? {} : { bounceRate }),
          ...(complaintRate === undefined ? {} : { complaintRate }),
        };
      });
  }

  /** Every live record under a prefix, each once (a scan may return a record twice: Redis SCAN across a resize). */
  private async scan<T>(prefix: string, each: (record: StoredRecord<T>) => void): Promise<void> {
    const list = this.store.list?.bind(this.store);
    if (!list) throw new ConfigurationError('this state store cannot list records, so event counts cannot be read');
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page: { records: StoredRecord<T>[]; cursor?: string } = await list<T>(
        prefix,
        cursor === undefined ? {} : { cursor },
      );
      for (const record of page.records) {
        if (seen.has(record.key)) continue;
        seen.add(record.key);
        each(record);
      }
      cursor = page.cursor;
    } while (cursor);
  }
}

interface SentCount {
  provider?: string;
  sentAt?: string;
  recipients?: number;
}
