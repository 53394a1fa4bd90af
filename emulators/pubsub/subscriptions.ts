import { randomBytes } from 'node:crypto';
import type { RestError } from './google-rest.ts';
import type { PubSubStoredMessage } from './server.ts';

/** Pub/Sub's bounds on a subscription's ack deadline and on `modifyAckDeadline` (seconds). */
const MAX_ACK_DEADLINE = 600;
const DEFAULT_ACK_DEADLINE = 10;

interface Delivery {
  message: PubSubStoredMessage;
  /** Epoch ms from which a pull may hand it out (again). */
  visibleAt: number;
  /** The ack id of the latest pull; an older one acknowledges nothing. */
  ackId?: string;
}

export interface Subscription {
  name: string;
  topic: string;
  ackDeadlineSeconds: number;
  pending: Delivery[];
}

/** What a pull hands out, in Pub/Sub's REST shape. */
export interface ReceivedMessage {
  ackId: string;
  message: {
    data: string;
    attributes?: Record<string, string>;
    messageId: string;
    publishTime: string;
    orderingKey?: string;
  };
}

const invalid = (message: string): RestError => ({ status: 400, message });
const notFound = (resource: string): RestError => ({
  status: 404,
  message: `Resource not found (resource=${resource}).`,
});

/**
 * Pull subscriptions: each gets a copy of every message published to its topic after it was made (as Pub/Sub
 * does: a subscription does not see earlier messages). `pull` leases messages for the ack deadline,
 * `acknowledge` removes them, `modifyAckDeadline` extends a lease or (0 seconds) gives a message back at once.
 * An ack id from an earlier pull of a message, or of one already acknowledged, is ignored, as Pub/Sub does.
 */
export class Subscriptions {
  private readonly byName = new Map<string, Subscription>();

  create(name: string, topic: string, topicExists: boolean, ackDeadlineSeconds?: number): Subscription | RestError {
    if (!topicExists) return notFound(topic.split('/')[3] ?? topic);
    if (this.byName.has(name)) {
      return {
        status: 409,
        message: `Resource already exists in the project (resource=${name.split('/')[3]}).`,
      };
    }
    const deadline = ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE;
    if (!Number.isInteger(deadline) || deadline < 10 || deadline > MAX_ACK_DEADLINE) {
      return invalid(`Invalid ack deadline given: ${deadline}; it must be between 10 and 600 seconds.`);
    }
    const subscription: Subscription = { name, topic, ackDeadlineSeconds: deadline, pending: [] };
    this.byName.set(name, subscription);
    return subscription;
  }

  /** A newly published message, copied to every subscription of its topic. */
  published(message: PubSubStoredMessage): void {
    for (const s of this.byName.values()) if (s.topic === message.topic) s.pending.push({ message, visibleAt: 0 });
  }

  /** The messages of a subscription not yet acknowledged (leased or not), oldest first. */
  pending(name: string): PubSubStoredMessage[] | undefined {
    return this.byName.get(name)?.pending.map((d) => d.message);
  }

  pull(name: string, body: unknown): { receivedMessages?: ReceivedMessage[] } | RestError {
    const subscription = this.byName.get(name);
    if (!subscription) return notFound(name.split('/')[3] ?? name);
    const max = Number((body as { maxMessages?: unknown } | null)?.maxMessages);
    if (!Number.isInteger(max) || max < 1) {
      return invalid(`The value for max_messages is out of range: ${max || 0}; it must be greater than 0.`);
    }
    const now = Date.now();
    const leased = subscription.pending.filter((d) => d.visibleAt <= now).slice(0, max);
    const receivedMessages = leased.map((d) => {
      d.ackId = randomBytes(18).toString('base64url');
      d.visibleAt = now + subscription.ackDeadlineSeconds * 1000;
      const { data, attributes, messageId, publishTime, orderingKey } = d.message;
      return {
        ackId: d.ackId,
        message: {
          data,
          ...(Object.keys(attributes).length ? { attributes } : {}),
          messageId,
          publishTime,
          ...(orderingKey ? { orderingKey } : {}),
        },
      };
    });
    // Pub/Sub answers `{}` when it has nothing to hand out.
    return receivedMessages.length ? { receivedMessages } : {};
  }

  acknowledge(name: string, body: unknown): Record<string, never> | RestError {
    const subscription = this.byName.get(name);
    if (!subscription) return notFound(name.split('/')[3] ?? name);
    const ackIds = ackIdsIn(body);
    if (!(ackIds instanceof Set)) return ackIds;
    subscription.pending = subscription.pending.filter((d) => !d.ackId || !ackIds.has(d.ackId));
    return {};
  }

  modifyAckDeadline(name: string, body: unknown): Record<string, never> | RestError {
    const subscription = this.byName.get(name);
    if (!subscription) return notFound(name.split('/')[3] ?? name);
    const ackIds = ackIdsIn(body);
    if (!(ackIds instanceof Set)) return ackIds;
    const seconds = Number((body as { ackDeadlineSeconds?: unknown }).ackDeadlineSeconds ?? 0);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_ACK_DEADLINE) {
      return invalid(`Invalid ack deadline given: ${seconds}; it must be between 0 and 600 seconds.`);
    }
    const now = Date.now();
    for (const d of subscription.pending) {
      // Only a message still leased under that ack id: an expired lease is not extended.
      if (d.ackId && ackIds.has(d.ackId) && d.visibleAt > now) d.visibleAt = now + seconds * 1000;
    }
    return {};
  }

  clear(): void {
    for (const s of this.byName.values()) s.pending.length = 0;
  }
}

function ackIdsIn(body: unknown): Set<string> | RestError {
  const ackIds = (body as { ackIds?: unknown } | null)?.ackIds;
  if (!Array.isArray(ackIds) || ackIds.length === 0) return invalid('No ack ids specified.');
  const bad = ackIds.find((id) => typeof id !== 'string' || !id);
  if (bad !== undefined) return invalid(`You have passed an invalid ack ID to the service (ack_id=${String(bad)}).`);
  return new Set(ackIds as string[]);
}
