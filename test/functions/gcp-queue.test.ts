import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPubSubPublisher, type PubSubPublisher } from '../../client/gcp-pubsub.ts';
import type { PubSubStoredMessage } from '../../emulators/pubsub/index.ts';
import { createDynamoDbTable } from '../../stores/dynamodb.ts';
import { startDynalite } from '../helpers/dynalite.ts';
import { startRedis } from '../helpers/redis.ts';
import {
  captureOutput,
  copies,
  deliver,
  type GcpWorld,
  gcpConfig,
  message,
  messagePublished,
  RELAY_PASSWORD,
  type RunningFunction,
  startFunction,
  startGcpWorld,
  THROTTLE_FAULT,
} from './gcp-world.ts';

let world: GcpWorld;
let fn: RunningFunction;
let output: ReturnType<typeof captureOutput>;
/** Another service publishing to the send topic without mailroute's producer: it can publish anything. */
let anyProducer: PubSubPublisher;

/** Publishes raw data to the send topic (through the emulator) and returns the stored message. */
async function published(data: string, attributes: Record<string, string> = {}): Promise<PubSubStoredMessage> {
  const id = await anyProducer.publish({ data: Buffer.from(data), attributes });
  return world.pubsub.messages(world.sendTopic).find((m) => m.messageId === id)!;
}

/** The failed topic's messages as the tests compare them. */
const failed = () =>
  world.pubsub
    .messages(world.failedTopic)
    .map((m): Record<string, string> => ({ text: m.text, ...m.attributes }))
    .sort((a, b) => String(a.sourceMessageId).localeCompare(String(b.sourceMessageId)));

beforeAll(async () => {
  world = await startGcpWorld();
  anyProducer = createPubSubPublisher({
    topic: world.sendTopic,
    apiRoot: world.pubsub.url,
    auth: { getAccessToken: async () => world.pubsub.issueToken() },
  });
});
beforeEach(async () => {
  fn = await startFunction('mailrouteQueue');
  output = captureOutput();
});
afterEach(async () => {
  output.restore();
  await fn.close();
  world.pubsub.reset();
  world.relay.fault = undefined;
  world.busy.fault = THROTTLE_FAULT;
});
afterAll(() => world.stop());

describe('Pub/Sub CloudEvent function (mailrouteQueue) on the Functions Framework', () => {
  it('mixed batch: good sent once and acknowledged; permanent failures on the failed topic and acknowledged; the throttled one answered 500', async () => {
    const events = {
      good: await published(JSON.stringify(message('mixed good'))),
      keyed: await published(JSON.stringify(message('mixed keyed', { idempotencyKey: 'order-1042' })), {
        idempotencyKey: 'order-1042',
      }),
      notJson: await published('{"from": "app@example.com", "to": '),
      invalid: await published(JSON.stringify(message('mixed invalid', { to: ['ann@example.net', 'not an address'] }))),
      rejected: await published(JSON.stringify(message('mixed rejected', { to: 'nobody@example.net' }))),
      throttled: await published(JSON.stringify(message('mixed throttled', { route: 'busy' }))),
    };
    // The relay refuses this recipient (so every recipient of that message) at RCPT TO.
    world.relay.fault = { stage: 'rcpt', recipients: ['nobody@example.net'], reply: '550 5.1.1 No such user' };
    const modes = ['binary', 'structured'] as const;
    const answers = Object.fromEntries(
      await Promise.all(
        Object.entries(events).map(async ([name, m], i) => [
          name,
          (await deliver(fn, messagePublished(m, 1), modes[i % 2])).status,
        ]),
      ),
    );
    const malformed = await deliver(fn, {
      specversion: '1.0',
      id: 'malformed-1',
      source: '//pubsub.googleapis.com/projects/mailroute-tests/topics/mailroute-send',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { subscription: 'projects/mailroute-tests/subscriptions/eventarc-sub' },
    });
    const noData = await deliver(
      fn,
      {
        specversion: '1.0',
        id: 'malformed-2',
        source: '//pubsub.googleapis.com/projects/mailroute-tests/topics/mailroute-send',
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
      },
      'structured',
    );

    expect(answers).toEqual({ good: 204, keyed: 204, notJson: 204, invalid: 204, rejected: 204, throttled: 500 });
    expect([malformed.status, noData.status]).toEqual([204, 204]);
    expect([copies(world.relay, 'mixed good'), copies(world.relay, 'mixed keyed')]).toEqual([1, 1]);
    expect(world.relay.received).toHaveLength(2);
    expect(world.busy.received).toHaveLength(0);
    expect(world.relay.auths.map((a) => a.password)).toContain(RELAY_PASSWORD);

    const failedOne = (id: string, reason: RegExp, errorCode: string, text: string) => ({
      text,
      reason: expect.stringMatching(reason),
      errorCode,
      sourceMessageId: id,
    });
    expect(failed()).toEqual(
      [
        {
          ...failedOne(events.notJson.messageId, /^INVALID_JSON: /, 'INVALID_JSON', events.notJson.text),
          deliveryAttempt: '1',
        },
        {
          ...failedOne(
            events.invalid.messageId,
            /^INVALID_MESSAGE: Invalid message: to\[1\]/,
            'INVALID_MESSAGE',
            events.invalid.text,
          ),
          deliveryAttempt: '1',
        },
        {
          ...failedOne(
            events.rejected.messageId,
            /^RECIPIENT_REJECTED: .*nobody@example\.net.*550/,
            'RECIPIENT_REJECTED',
            events.rejected.text,
          ),
          deliveryAttempt: '1',
        },
        failedOne(
          'malformed-1',
          /^MALFORMED_EVENT: the event has no data\.message/,
          'MALFORMED_EVENT',
          '{"subscription":"projects/mailroute-tests/subscriptions/eventarc-sub"}',
        ),
        failedOne('malformed-2', /^MALFORMED_EVENT: the event has no data\.message/, 'MALFORMED_EVENT', ''),
      ].sort((a, b) => a.sourceMessageId.localeCompare(b.sourceMessageId)),
    );

    // Structured logs for Cloud Logging: severity, one line per attempt and per record, addresses masked.
    const lines = output.lines();
    const records = lines.filter((l) => l.message === 'record');
    expect(new Map(records.map((l) => [l.queueMessageId, [l.severity, l.status]]))).toEqual(
      new Map<unknown, unknown>([
        [events.good.messageId, ['INFO', 'sent']],
        [events.keyed.messageId, ['INFO', 'sent']],
        [events.notJson.messageId, ['WARNING', 'dead-letter']],
        [events.invalid.messageId, ['WARNING', 'dead-letter']],
        [events.rejected.messageId, ['WARNING', 'dead-letter']],
        [events.throttled.messageId, ['WARNING', 'retry']],
        ['malformed-1', ['WARNING', 'dead-letter']],
        ['malformed-2', ['WARNING', 'dead-letter']],
      ]),
    );
    expect(lines.find((l) => l.message === 'attempt' && l.queueMessageId === events.good.messageId)).toMatchObject({
      severity: 'INFO',
      name: 'relay',
      provider: 'gmail',
      mode: 'smtp',
      outcome: 'sent',
      messageId: expect.stringMatching(/^<[0-9a-f]+@example\.com>$/),
    });
    expect(lines.find((l) => l.message === 'attempt' && l.queueMessageId === events.throttled.messageId)).toMatchObject(
      {
        name: 'busy',
        outcome: 'failed',
        errorCode: 'TRANSIENT',
      },
    );
    const text = output.text();
    // The framework logs the 500's error on stderr: one line, the Pub/Sub message id only.
    expect(text).toContain(
      `Pub/Sub message ${events.throttled.messageId} was not sent yet: answered 500 so that Pub/Sub redelivers it\n`,
    );
    expect(text).toContain('n***@example.net');
    expect(text).not.toMatch(/ann@example\.net|nobody@example\.net/);
    expect(text).not.toContain(RELAY_PASSWORD);
  });

  it('the same CloudEvent delivered again sends nothing twice; the throttled one is sent once when Pub/Sub retries it', async () => {
    const good = await published(JSON.stringify(message('redelivered good')));
    const keyed = await published(JSON.stringify(message('redelivered keyed', { idempotencyKey: 'invoice-7' })));
    const busy = await published(JSON.stringify(message('redelivered busy', { route: 'busy' })));
    const first = await Promise.all([good, keyed, busy].map((m) => deliver(fn, messagePublished(m, 1))));
    expect(first.map((a) => a.status)).toEqual([204, 204, 500]);

    // At-least-once: Pub/Sub delivers the acknowledged ones again (binary and structured), and retries the busy one.
    world.busy.fault = undefined;
    for (const mode of ['binary', 'structured'] as const) {
      const again = await Promise.all([good, keyed, busy].map((m) => deliver(fn, messagePublished(m, 2), mode)));
      expect(again.map((a) => a.status)).toEqual([204, 204, 204]);
    }
    expect(['redelivered good', 'redelivered keyed'].map((s) => copies(world.relay, s))).toEqual([1, 1]);
    expect(copies(world.busy, 'redelivered busy')).toBe(1);
    expect(world.pubsub.messages(world.failedTopic)).toEqual([]);
    const statuses = output.lines().filter((l) => l.message === 'record' && l.queueMessageId === good.messageId);
    expect(statuses.map((l) => l.status)).toEqual(['sent', 'duplicate', 'duplicate']);
  });

  it('memory store: a redelivery to another instance is sent again (the documented cost); a shared store (DynamoDB, cross-cloud) recognizes it', async () => {
    const m = await published(JSON.stringify(message('other instance')));
    expect((await deliver(fn, messagePublished(m))).status).toBe(204);
    const other = await startFunction('mailrouteQueue');
    try {
      expect((await deliver(other, messagePublished(m, 2))).status).toBe(204);
    } finally {
      await other.close();
    }
    expect(copies(world.relay, 'other instance')).toBe(2);

    const db = await startDynalite();
    const client = new DynamoDBClient({ endpoint: db.endpoint, region: db.region, credentials: db.credentials });
    try {
      await createDynamoDbTable(client, 'mailroute-state', { timeToLive: false });
      const store = { type: 'dynamodb', tableName: 'mailroute-state', region: db.region, endpoint: db.endpoint };
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(gcpConfig(world.relay, world.busy, { store })));
      // AWS keys "mounted from Secret Manager"; the SDK reads them from the environment.
      vi.stubEnv('AWS_ACCESS_KEY_ID', db.credentials.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', db.credentials.secretAccessKey);
      const shared = await published(JSON.stringify(message('shared store')));
      for (const attempt of [1, 2]) {
        const instance = await startFunction('mailrouteQueue');
        try {
          expect((await deliver(instance, messagePublished(shared, attempt))).status).toBe(204);
        } finally {
          await instance.close();
        }
      }
      expect(copies(world.relay, 'shared store')).toBe(1);
    } finally {
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(gcpConfig(world.relay, world.busy)));
      client.destroy();
      await db.stop();
    }
  });

  it('MAILROUTE_STORE_REDIS_URL (the secret infra/gcp mounts): Redis is the shared store, so a redelivery to another instance is not sent again', async () => {
    const redis = await startRedis();
    vi.stubEnv('MAILROUTE_STORE_REDIS_URL', redis.url);
    try {
      const m = await published(JSON.stringify(message('redis store')));
      for (const attempt of [1, 2]) {
        const instance = await startFunction('mailrouteQueue');
        try {
          expect((await deliver(instance, messagePublished(m, attempt))).status).toBe(204);
        } finally {
          await instance.close();
        }
      }
      expect(copies(world.relay, 'redis store')).toBe(1);
      const statuses = output.lines().filter((l) => l.message === 'record' && l.queueMessageId === m.messageId);
      expect(statuses.map((l) => l.status)).toEqual(['sent', 'duplicate']);
      expect(output.text()).not.toContain(redis.password);
    } finally {
      vi.stubEnv('MAILROUTE_STORE_REDIS_URL', '');
      await redis.stop();
    }
  });

  it('keeps the message for redelivery (500) when the failed topic cannot take it', async () => {
    const notJson = await published('not json');
    world.pubsub.faults.add({ status: 503, pathIncludes: 'mailroute-failed' });
    expect((await deliver(fn, messagePublished(notJson))).status).toBe(500);
    expect(world.pubsub.messages(world.failedTopic)).toEqual([]);
    // Pub/Sub retries; the topic is back.
    expect((await deliver(fn, messagePublished(notJson, 2))).status).toBe(204);
    expect(failed()).toEqual([expect.objectContaining({ sourceMessageId: notJson.messageId, deliveryAttempt: '2' })]);
  });

  it('a failed topic that never answers: the events to set aside are answered 500 before the timeout, the sent one 204; then set aside', async () => {
    const timeoutMs = 3_000;
    vi.stubEnv('MAILROUTE_TIMEOUT_SECONDS', String(timeoutMs / 1000));
    const good = await published(JSON.stringify(message('silent topic good')));
    const notJson = await published('not json, and the failed topic is silent');
    const malformed = {
      specversion: '1.0',
      id: 'malformed-silent',
      source: '//pubsub.googleapis.com/projects/mailroute-tests/topics/mailroute-send',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { subscription: 'projects/mailroute-tests/subscriptions/eventarc-sub' },
    };
    // Every publish to the failed topic is taken and never answered.
    world.pubsub.faults.add({ hang: true, fraction: 1, pathIncludes: 'mailroute-failed' });
    try {
      const timed = async (event: Parameters<typeof deliver>[1]) => {
        const end = Date.now() + timeoutMs;
        const answer = await deliver(fn, event);
        // Cloud Functions cuts the request at its timeout: the answer must come before.
        expect(Date.now()).toBeLessThan(end);
        return answer.status;
      };
      const statuses = await Promise.all([
        timed(messagePublished(good, 1)),
        timed(messagePublished(notJson, 1)),
        timed(malformed),
      ]);
      expect(statuses).toEqual([204, 500, 500]);
      expect(copies(world.relay, 'silent topic good')).toBe(1);
      expect(world.pubsub.messages(world.failedTopic)).toEqual([]);
      const retried = output.lines().filter((l) => l.message === 'record' && l.status === 'retry');
      expect(new Map(retried.map((l) => [l.queueMessageId, l.reason]))).toEqual(
        new Map([
          [
            notJson.messageId,
            expect.stringMatching(/^dead-letter write did not finish in the \d+ ms left; INVALID_JSON/),
          ],
          ['malformed-silent', expect.stringMatching(/^dead-letter write did not finish .*; MALFORMED_EVENT/)],
        ]),
      );

      // The topic answers again: Pub/Sub's redeliveries are set aside; the sent one is not sent again.
      world.pubsub.faults.clear();
      expect((await deliver(fn, messagePublished(notJson, 2))).status).toBe(204);
      expect((await deliver(fn, malformed)).status).toBe(204);
      expect((await deliver(fn, messagePublished(good, 2))).status).toBe(204);
      // (sorted by source message id: Pub/Sub's numeric ids first)
      expect(failed()).toEqual([
        expect.objectContaining({
          sourceMessageId: notJson.messageId,
          errorCode: 'INVALID_JSON',
          deliveryAttempt: '2',
        }),
        expect.objectContaining({ sourceMessageId: 'malformed-silent', errorCode: 'MALFORMED_EVENT' }),
      ]);
      expect(copies(world.relay, 'silent topic good')).toBe(1);
    } finally {
      vi.stubEnv('MAILROUTE_TIMEOUT_SECONDS', '');
    }
  });

  it('a broken configuration fails the event (500, retried) and names the field; secrets come only from the environment', async () => {
    const config = gcpConfig(world.relay, world.busy);
    const relay = config.providers[0] as unknown as Record<string, unknown>;
    relay.smtpCredentials = { username: { env: 'GMAIL_RELAY_USER' }, password: { ssm: '/mailroute/relay' } };
    vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(config));
    try {
      const cold = await startFunction('mailrouteQueue');
      try {
        const m = await published(JSON.stringify(message('never sent')));
        const answer = await deliver(cold, messagePublished(m));
        expect(answer.status).toBe(500);
        const failure = output.lines().find((l) => l.message === 'cold start failed');
        expect(failure).toMatchObject({ severity: 'ERROR', error: { code: 'CONFIGURATION' } });
        expect(JSON.stringify(failure)).toMatch(
          /providers\[0\]\.smtpCredentials\.password: SSM parameter \/mailroute\/relay is not read on Google Cloud: mount the secret with --set-secrets/,
        );
      } finally {
        await cold.close();
      }
    } finally {
      vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(gcpConfig(world.relay, world.busy)));
    }
    expect(copies(world.relay, 'never sent')).toBe(0);
  });

  it("stops before the function's timeout: the message is answered 500 for redelivery, not sent late", async () => {
    vi.stubEnv('MAILROUTE_TIMEOUT_SECONDS', '1');
    vi.stubEnv('MAILROUTE_DEADLINE_MARGIN_MS', '1000');
    try {
      const m = await published(JSON.stringify(message('too late')));
      expect((await deliver(fn, messagePublished(m))).status).toBe(500);
    } finally {
      vi.stubEnv('MAILROUTE_TIMEOUT_SECONDS', '');
      vi.stubEnv('MAILROUTE_DEADLINE_MARGIN_MS', '');
    }
    expect(copies(world.relay, 'too late')).toBe(0);
    expect(output.lines().find((l) => l.message === 'record')).toMatchObject({
      status: 'retry',
      reason: expect.stringMatching(/DEADLINE_EXCEEDED/),
    });
  });
});
