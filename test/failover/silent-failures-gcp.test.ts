import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPubSubPublisher, type PubSubPublisher } from '../../client/gcp-pubsub.ts';
import {
  captureOutput,
  copies,
  deliver,
  type GcpWorld,
  gcpConfig,
  message,
  messagePublished,
  startFunction,
  startGcpWorld,
} from '../functions/gcp-world.ts';
import type { Fault } from '../helpers/smtp-test-server.ts';

// The same promise through Google Cloud's Pub/Sub handler: a Gmail relay that goes quiet (takes the message and
// never answers, or drops the connection after it), a healthy second relay, 200 messages, 10 at a time as Eventarc
// pushes them: at most 20 end AMBIGUOUS (on the failed topic), the rest are sent by the second relay, none twice.

const MESSAGES = 200;
const IN_FLIGHT = 10;

let world: GcpWorld;
let producer: PubSubPublisher;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  world = await startGcpWorld();
  producer = createPubSubPublisher({
    topic: world.sendTopic,
    apiRoot: world.pubsub.url,
    auth: { getAccessToken: async () => world.pubsub.issueToken() },
  });
  vi.stubEnv('MAILROUTE_TIMEOUT_SECONDS', '3');
});
afterEach(() => {
  output?.restore();
  world.pubsub.reset();
  world.relay.fault = undefined;
  world.relay.received.length = 0;
  world.busy.received.length = 0;
});
afterAll(() => world.stop());

describe('failover that sees silent failures (Pub/Sub handler, 200 messages)', { timeout: 120_000 }, () => {
  it.each<[string, Fault]>([
    ['takes the message and never answers', { stage: 'end-of-data', silent: true }],
    ['drops the connection after the message', { stage: 'end-of-data', drop: true }],
  ])('a relay that %s: at most 20 end AMBIGUOUS, the rest through the second relay', async (_what, fault) => {
    // `busy` is the healthy second relay here.
    world.busy.fault = undefined;
    vi.stubEnv(
      'MAILROUTE_CONFIG',
      JSON.stringify(
        gcpConfig(world.relay, world.busy, {
          routes: [{ name: 'main', providers: ['relay', 'busy'] }],
          health: { failureThreshold: 3, cooldownMs: 120_000 },
        }),
      ),
    );
    world.relay.fault = fault;
    const fn = await startFunction('mailrouteQueue');
    output = captureOutput();
    try {
      const run = randomUUID().slice(0, 8);
      const subjects = Array.from({ length: MESSAGES }, (_, i) => `quiet-${run}-${i}`);
      const statuses: number[] = [];
      for (let i = 0; i < MESSAGES; i += IN_FLIGHT) {
        const batch = subjects.slice(i, i + IN_FLIGHT);
        const events = await Promise.all(
          batch.map(async (s) => {
            const id = await producer.publish({ data: Buffer.from(JSON.stringify(message(s))) });
            return messagePublished(world.pubsub.messages(world.sendTopic).find((m) => m.messageId === id)!);
          }),
        );
        // A push not acknowledged (its failed-topic publish did not fit in the time left) comes again, as Pub/Sub
        // would redeliver it; the redelivery finds the outcome recorded.
        const acked = await Promise.all(
          events.map(async (e) => {
            for (let push = 1; push <= 3; push++) {
              if ((await deliver(fn, e)).status < 300) return push;
            }
            return 0;
          }),
        );
        statuses.push(...acked);
      }
      // Every message acknowledged in the end: nothing lost.
      expect(statuses.every((pushes) => pushes > 0)).toBe(true);
      const ambiguous = new Set(
        world.pubsub
          .messages(world.failedTopic)
          .filter((m) => m.attributes.errorCode === 'AMBIGUOUS')
          .map((m) => String((JSON.parse(m.text) as { subject: string }).subject)),
      );
      expect(world.pubsub.messages(world.failedTopic)).toHaveLength(ambiguous.size);
      expect(ambiguous.size).toBeGreaterThan(0);
      expect(ambiguous.size).toBeLessThanOrEqual(20);
      for (const s of subjects) {
        const delivered = copies(world.relay, s) + copies(world.busy, s);
        if (ambiguous.has(s)) expect(copies(world.busy, s), s).toBe(0);
        else expect(delivered, s).toBe(1);
      }
    } finally {
      await fn.close();
    }
  });
});
