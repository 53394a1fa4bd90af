import { createHash } from 'node:crypto';
import type { StateStore } from '../../stores/store.ts';
import type { MailrouteConfig } from '../config/schema.ts';
import type { SendResult } from '../contract/adapter.ts';
import { isMailrouteError, type SuppressedRecipient, SuppressedRecipientsError } from '../errors.ts';
import type { NormalizedMessage } from '../message/message.ts';
import { type Logger, maskAddress } from '../util/log.ts';
import { Correlation } from './correlation.ts';
import type { MailEvent } from './event.ts';
import { EventStats } from './stats.ts';
import { type SuppressionChange, SuppressionList, suppressedRecipient } from './suppression.ts';

/** One event after it was applied: enriched by correlation, and what it did to the suppression list. */
export interface AppliedEvent {
  event: MailEvent;
  suppression?: Exclude<SuppressionChange, undefined>;
  /** The same event was taken in before (a redelivery, a file ingested twice): not counted again. */
  repeated?: true;
}

/** How long an event is remembered, so that a redelivered copy is not counted twice (SNS retries up to 23 days). */
const SEEN_TTL_MS = 30 * 86_400_000;

/**
 * The half of an email service after the send: the suppression list every provider shares, the correlation of
 * events to sent messages, and the daily counts, all in one state store (the mailer's, or a local file for the
 * embedded default).
 */
export class MailEvents {
  readonly suppressions: SuppressionList;
  readonly correlation: Correlation;
  readonly stats: EventStats | undefined;
  readonly store: StateStore;
  private readonly enabled: boolean;
  private readonly correlate: boolean;
  private readonly log: Logger;

  constructor(store: StateStore, config: Pick<MailrouteConfig, 'events' | 'suppression'>, log: Logger) {
    this.store = store;
    this.log = log;
    const { enabled, ...options } = config.suppression ?? {};
    this.enabled = enabled ?? true;
    this.correlate = config.events?.correlate ?? true;
    this.suppressions = new SuppressionList(store, options);
    this.correlation = new Correlation(store, config.events?.correlationTtlDays);
    this.stats = config.events?.stats === false ? undefined : new EventStats(store);
  }

  /**
   * Takes the suppressed recipients out of the message (in place) and returns them; throws
   * `SuppressedRecipientsError` when no recipient is left. Nothing to do when the message says
   * `suppression: 'ignore'` or the configuration turns suppression off. A store failure is a `StateStoreError`
   * (retry later): a suppressed recipient is never mailed because the list could not be read.
   */
  async screen(message: NormalizedMessage): Promise<SuppressedRecipient[]> {
    if (!this.enabled || message.suppression === 'ignore') return [];
    const recipients = [...message.to, ...message.cc, ...message.bcc];
    if (recipients.length === 0) return [];
    const found = await this.suppressions.check(recipients.map((r) => r.address));
    if (found.size === 0) return [];
    const suppressed = [...found].map(([address, entry]) => suppressedRecipient(address, entry));
    const keep = (list: NormalizedMessage['to']) => list.filter((r) => !found.has(r.address));
    message.to = keep(message.to);
    message.cc = keep(message.cc);
    message.bcc = keep(message.bcc);
    if (message.to.length + message.cc.length + message.bcc.length === 0) {
      throw new SuppressedRecipientsError(suppressed);
    }
    this.log.info('suppressed recipients left out', { recipients: suppressed.map((s) => maskAddress(s.address)) });
    return suppressed;
  }

  /**
   * After a send: its correlation records (which also count it for `events stats`), written at once, in parallel.
   * Never fails the send: a failure is logged. Off with `events.correlate: false`.
   */
  async recordSent(result: SendResult, idempotencyKey: string | undefined): Promise<void> {
    if (!this.correlate) return;
    try {
      await this.correlation.record(result, idempotencyKey);
    } catch (error) {
      this.log.warn('send not recorded for events', { messageId: result.messageId, error: describe(error) });
    }
  }

  /**
   * Applies events in order: each is enriched from its message's correlation record, then changes the suppression
   * list, then is counted. A suppression-list failure throws (the platform redelivers the batch; applying an event
   * twice changes nothing); a count or correlation failure is logged.
   */
  async apply(events: readonly MailEvent[]): Promise<AppliedEvent[]> {
    const applied: AppliedEvent[] = [];
    for (const raw of events) {
      let event = raw;
      try {
        event = await this.correlation.enrich(raw);
      } catch (error) {
        this.log.warn('event not correlated', { provider: raw.provider, error: describe(error) });
      }
      const change = await this.suppressions.apply(event);
      const repeated = !(await this.firstTime(event));
      if (this.stats && !repeated) {
        const counts: Record<string, number> = { [event.type]: 1 };
        if (event.type === 'bounced' && event.bounceType) counts[`bounced.${event.bounceType}`] = 1;
        await this.stats.add(event.provider, counts, event.eventTime).catch((error: unknown) => {
          this.log.warn('event not counted', { provider: event.provider, type: event.type, error: describe(error) });
        });
      }
      applied.push({ event, ...(change ? { suppression: change } : {}), ...(repeated ? { repeated } : {}) });
    }
    return applied;
  }

  /**
   * Whether this event is new, by its identity (provider, type, recipient, message, time, link). Applying an event
   * twice changes nothing on the suppression list; only the counts need this. A store failure counts it as new.
   */
  private async firstTime(event: MailEvent): Promise<boolean> {
    const identity = [
      event.provider,
      event.type,
      event.recipient,
      event.providerMessageId ?? event.messageId,
      event.eventTime,
      event.url,
    ];
    const key = `seen:${createHash('sha256').update(JSON.stringify(identity)).digest('base64url')}`;
    try {
      return (await this.store.put(key, 1, { ttlMs: SEEN_TTL_MS })) !== undefined;
    } catch {
      return true;
    }
  }
}

function describe(error: unknown): string {
  return isMailrouteError(error) ? error.message : String((error as Error)?.message ?? error);
}
