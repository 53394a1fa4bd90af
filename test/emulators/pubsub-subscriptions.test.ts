import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PubSubEmulator, startPubSubEmulator } from '../../emulators/pubsub/index.ts';

const PROJECT = 'mailroute-tests';
let pubsub: PubSubEmulator;
let token: string;

beforeAll(async () => {
  pubsub = await startPubSubEmulator({ project: PROJECT });
  token = pubsub.issueToken();
});
afterAll(() => pubsub.close());

interface Received {
  ackId: string;
  message: { data: string; attributes?: Record<string, string>; messageId: string; publishTime: string };
}
interface Answer {
  receivedMessages?: Received[];
  error?: { message: string };
  [field: string]: unknown;
}

async function call(path: string, body: unknown, method = 'POST', bearer = token) {
  const response = await fetch(`${pubsub.url}/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer };
}
const publish = (topic: string, text: string, attributes?: Record<string, string>) =>
  call(`${topic}:publish`, { messages: [{ data: Buffer.from(text).toString('base64'), attributes }] });

describe('Pub/Sub emulator: pull subscriptions', () => {
  it('subscriptions.create over REST; a subscription gets what is published after it was made', async () => {
    const topic = pubsub.createTopic(PROJECT, 'rest-topic');
    await publish(topic, 'before');
    const made = await call(`projects/${PROJECT}/subscriptions/rest-sub`, { topic, ackDeadlineSeconds: 20 }, 'PUT');
    expect(made).toEqual({
      status: 200,
      body: { name: `projects/${PROJECT}/subscriptions/rest-sub`, topic, ackDeadlineSeconds: 20 },
    });
    expect((await call(`projects/${PROJECT}/subscriptions/rest-sub`, { topic }, 'PUT')).status).toBe(409);
    const missing = await call(
      `projects/${PROJECT}/subscriptions/x`,
      { topic: `projects/${PROJECT}/topics/nope` },
      'PUT',
    );
    expect([missing.status, missing.body.error?.message]).toEqual([404, 'Resource not found (resource=nope).']);
    await publish(topic, 'after');
    expect(pubsub.pending(`projects/${PROJECT}/subscriptions/rest-sub`).map((m) => m.text)).toEqual(['after']);
  });

  it('pull leases for the ack deadline; acknowledge removes; modifyAckDeadline 0 gives back at once', async () => {
    const topic = pubsub.createTopic(PROJECT, 'lease-topic');
    const sub = pubsub.createSubscription(PROJECT, 'lease-sub', topic);
    await publish(topic, 'one', { reason: 'x' });
    await publish(topic, 'two');
    const pulled = await call(`${sub}:pull`, { maxMessages: 10 });
    const received = pulled.body.receivedMessages ?? [];
    expect(received.map((r) => [Buffer.from(r.message.data, 'base64').toString(), r.message.attributes])).toEqual([
      ['one', { reason: 'x' }],
      ['two', undefined],
    ]);
    expect(received[0]!.message.messageId).toBeTruthy();
    expect(received[0]!.message.publishTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Leased: nothing to hand out, and Pub/Sub answers {}.
    expect(await call(`${sub}:pull`, { maxMessages: 10 })).toEqual({ status: 200, body: {} });
    expect(await call(`${sub}:acknowledge`, { ackIds: [received[0]!.ackId] })).toEqual({ status: 200, body: {} });
    expect(await call(`${sub}:modifyAckDeadline`, { ackIds: [received[1]!.ackId], ackDeadlineSeconds: 0 })).toEqual({
      status: 200,
      body: {},
    });
    const again = (await call(`${sub}:pull`, { maxMessages: 10 })).body.receivedMessages ?? [];
    expect(again).toHaveLength(1);
    expect(pubsub.pending(sub)).toHaveLength(1);
    // The ack id of the earlier pull acknowledges nothing now.
    await call(`${sub}:acknowledge`, { ackIds: [received[1]!.ackId] });
    expect(pubsub.pending(sub)).toHaveLength(1);
    await call(`${sub}:acknowledge`, { ackIds: [again[0]!.ackId] });
    expect(pubsub.pending(sub)).toEqual([]);
  });

  it('an expired ack deadline hands the message out again', async () => {
    const topic = pubsub.createTopic(PROJECT, 'expiry-topic');
    const sub = pubsub.createSubscription(PROJECT, 'expiry-sub', topic, 10);
    await publish(topic, 'late');
    const pull = async () => ((await call(`${sub}:pull`, { maxMessages: 1 })).body.receivedMessages ?? [])[0]!;
    const first = await pull();
    await call(`${sub}:modifyAckDeadline`, { ackIds: [first.ackId], ackDeadlineSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await pull();
    expect(second.message.messageId).toBe(first.message.messageId);
    expect(second.ackId).not.toBe(first.ackId);
  });

  it('refuses what Pub/Sub refuses: no token, an unknown subscription, no maxMessages, no ack ids, a deadline over 600', async () => {
    const topic = pubsub.createTopic(PROJECT, 'refusal-topic');
    const sub = pubsub.createSubscription(PROJECT, 'refusal-sub', topic);
    expect((await call(`${sub}:pull`, { maxMessages: 1 }, 'POST', 'ya29.unknown')).status).toBe(401);
    expect((await call(`projects/${PROJECT}/subscriptions/nope:pull`, { maxMessages: 1 })).status).toBe(404);
    expect((await call(`${sub}:pull`, {})).status).toBe(400);
    expect((await call(`${sub}:acknowledge`, { ackIds: [] })).status).toBe(400);
    expect((await call(`${sub}:modifyAckDeadline`, { ackIds: ['a'], ackDeadlineSeconds: 601 })).status).toBe(400);
  });
});
