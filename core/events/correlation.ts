import type { StateStore } from '../../stores/store.ts';
import type { SendResult } from '../contract/adapter.ts';
import type { MailEvent } from './event.ts';

/** What an event can learn about the message it is about. */
export interface SentRecord {
  messageId: string;
  providerMessageId?: string;
  name: string;
  provider: string;
  route?: string;
  idempotencyKey?: string;
  metadata?: Record<string, string | number | boolean>;
  sentAt: string;
  /** Recipients the provider took: what `mailroute events stats` counts as sent (the bounce rate's denominator). */
  recipients?: number;
}

const DAY_MS = 86_400_000;

/**
 * At send time, the provider's message id and our Message-ID are each recorded (with a TTL) pointing at the
 * message's facts; an event then finds its message, idempotency key and metadata by whichever of the two it carries
 * (SES events carry both, ACS and OCI the provider's id, a DSN only the Message-ID).
 */
export class Correlation {
  private readonly ttlMs: number;
  private readonly store: StateStore;

  constructor(store: StateStore, ttlDays = 30) {
    this.store = store;
    this.ttlMs = ttlDays * DAY_MS;
  }

  static providerKey(provider: string, providerMessageId: string): string {
    return `sent:p:${provider}:${providerMessageId}`;
  }

  static messageKey(messageId: string): string {
    return `sent:m:${messageId.replace(/^<|>$/g, '')}`;
  }

  async record(result: SendResult, idempotencyKey?: string): Promise<void> {
    const record: SentRecord = {
      messageId: result.messageId,
      name: result.name,
      provider: result.provider,
      sentAt: new Date().toISOString(),
      recipients: result.accepted.length,
      ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
      ...(result.route ? { route: result.route } : {}),
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(result.metadata ? { metadata: result.metadata } : {}),
    };
    const keys = [Correlation.messageKey(result.messageId)];
    if (result.providerMessageId) keys.push(Correlation.providerKey(result.provider, result.providerMessageId));
    // A key already recorded (a settled or repeated send) keeps its first record: put-if-absent is enough.
    await Promise.all(keys.map((key) => this.store.put(key, record, { ttlMs: this.ttlMs })));
  }

  async find(event: Pick<MailEvent, 'provider' | 'providerMessageId' | 'messageId'>): Promise<SentRecord | undefined> {
    if (event.providerMessageId) {
      const byProvider = await this.store.get<SentRecord>(
        Correlation.providerKey(event.provider, event.providerMessageId),
      );
      if (byProvider) return byProvider.value;
    }
    if (event.messageId) return (await this.store.get<SentRecord>(Correlation.messageKey(event.messageId)))?.value;
    return undefined;
  }

  /** The event with what its message's record adds (our Message-ID, idempotency key, entry name, metadata). */
  async enrich(event: MailEvent): Promise<MailEvent> {
    const sent = await this.find(event);
    if (!sent) return event;
    return {
      ...event,
      messageId: event.messageId ?? sent.messageId,
      ...(sent.idempotencyKey && !event.idempotencyKey ? { idempotencyKey: sent.idempotencyKey } : {}),
      ...(event.name ? {} : { name: sent.name }),
      ...(sent.metadata && !event.metadata ? { metadata: sent.metadata } : {}),
    };
  }
}
