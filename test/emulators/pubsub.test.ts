import { GoogleAuth } from 'google-auth-library';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PUBSUB_SCOPE, type PubSubEmulator, startPubSubEmulator } from '../../emulators/pubsub/index.ts';

let pubsub: PubSubEmulator;
let topic: string;

const publish = (name: string, body: unknown, token: string | undefined = pubsub.issueToken()) =>
  fetch(`${pubsub.url}/v1/${name}:publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const answer = async (response: Response) => ({ status: response.status, body: await response.json() });
const b64 = (text: string) => Buffer.from(text).toString('base64');

beforeAll(async () => {
  pubsub = await startPubSubEmulator({ project: 'mailroute-tests', maxRequestBytes: 1000 });
  topic = pubsub.createTopic('mailroute-tests', 'mailroute-send');
});
afterEach(() => pubsub.reset());
afterAll(() => pubsub.close());

describe('Pub/Sub emulator: topics.publish over REST', () => {
  it('stores each message with a numeric id, attributes, ordering key and publish time', async () => {
    const response = await publish(topic, {
      messages: [
        { data: b64('{"a":1}'), attributes: { idempotencyKey: 'k-1' }, orderingKey: 'sender@example.com' },
        { data: b64('second') },
      ],
    });
    const { status, body } = await answer(response);
    expect(status).toBe(200);
    expect(body.messageIds).toEqual([expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+$/)]);
    expect(pubsub.messages(topic)).toEqual([
      {
        topic,
        messageId: body.messageIds[0],
        data: b64('{"a":1}'),
        text: '{"a":1}',
        attributes: { idempotencyKey: 'k-1' },
        orderingKey: 'sender@example.com',
        publishTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      expect.objectContaining({ messageId: body.messageIds[1], text: 'second', attributes: {} }),
    ]);
  });

  it('wants a bearer token it issued, with a Pub/Sub scope', async () => {
    const missing = await answer(await publish(topic, { messages: [{ data: b64('x') }] }, ''));
    expect(missing).toMatchObject({ status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } });
    expect(missing.body.error.message).toMatch(/missing required authentication credential/);
    const unknown = await answer(await publish(topic, { messages: [{ data: b64('x') }] }, 'ya29.forged'));
    expect(unknown).toMatchObject({ status: 401, body: { error: { message: /invalid authentication/ } } });
    const narrow = pubsub.issueToken(['https://www.googleapis.com/auth/gmail.send']);
    expect(await answer(await publish(topic, { messages: [{ data: b64('x') }] }, narrow))).toMatchObject({
      status: 403,
      body: { error: { status: 'PERMISSION_DENIED', message: 'Request had insufficient authentication scopes.' } },
    });
    const expiring = pubsub.issueToken([PUBSUB_SCOPE]);
    pubsub.expireTokens();
    expect((await publish(topic, { messages: [{ data: b64('x') }] }, expiring)).status).toBe(401);
    expect(pubsub.messages(topic)).toEqual([]);
  });

  it('answers 404 NOT_FOUND for a topic that was not created', async () => {
    const { status, body } = await answer(
      await publish('projects/mailroute-tests/topics/nope', { messages: [{ data: b64('x') }] }),
    );
    expect(status).toBe(404);
    expect(body).toEqual({ error: { code: 404, message: 'Resource not found (resource=nope).', status: 'NOT_FOUND' } });
  });

  it('refuses what Pub/Sub refuses: bad base64, empty messages, reserved or long attributes, oversize requests', async () => {
    const refused = async (messages: unknown) => {
      const { status, body } = await answer(await publish(topic, { messages }));
      expect(status).toBe(400);
      expect(body.error.status).toBe('INVALID_ARGUMENT');
      return body.error.message as string;
    };
    expect(await refused([{ data: 'not base64!' }])).toMatch(/Base64 decoding failed/);
    expect(await refused([{}])).toMatch(/Some messages are empty/);
    expect(await refused([])).toMatch(/at least one message/);
    expect(await refused([{ data: b64('x'), attributes: { googKey: 'v' } }])).toMatch(/reserved/);
    expect(await refused([{ data: b64('x'), attributes: { k: 'v'.repeat(1025) } }])).toMatch(/too long/);
    expect(await refused([{ data: b64('x'.repeat(1001)) }])).toBe(
      'Request payload size exceeds the limit: 1000 bytes.',
    );
    // Attributes alone are a message; URL-safe base64 is read too, as proto3 JSON does.
    expect((await publish(topic, { messages: [{ attributes: { only: 'attributes' } }] })).status).toBe(200);
    expect(
      (await publish(topic, { messages: [{ data: Buffer.from([0xfb, 0xff]).toString('base64url') }] })).status,
    ).toBe(200);
    expect(pubsub.messages(topic).map((m) => m.data)).toEqual(['', Buffer.from([0xfb, 0xff]).toString('base64')]);
  });

  it('plays faults in Google error shape, with Retry-After, also when armed over HTTP', async () => {
    pubsub.faults.add({ status: 429, retryAfter: 3 });
    await fetch(`${pubsub.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ status: 503 }) });
    const throttled = await publish(topic, { messages: [{ data: b64('x') }] });
    expect(throttled.headers.get('retry-after')).toBe('3');
    expect(await answer(throttled)).toMatchObject({ status: 429, body: { error: { status: 'RESOURCE_EXHAUSTED' } } });
    expect(await answer(await publish(topic, { messages: [{ data: b64('x') }] }))).toMatchObject({
      status: 503,
      body: { error: { status: 'UNAVAILABLE' } },
    });
    expect((await publish(topic, { messages: [{ data: b64('x') }] })).status).toBe(200);
  });
});

describe('Pub/Sub emulator: the metadata server google-auth-library uses on Cloud Run', () => {
  it('hands a GoogleAuth (application default credentials) a token for the scope it asks', async () => {
    vi.stubEnv('GCE_METADATA_HOST', pubsub.metadataHost);
    vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', '');
    try {
      const auth = new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: 'mailroute-tests' });
      const token = await auth.getAccessToken();
      expect(token).toMatch(/^ya29\./);
      expect(pubsub.tokenRequests.at(-1)).toEqual({ scopes: [PUBSUB_SCOPE] });
      expect((await publish(topic, { messages: [{ data: b64('x') }] }, token!)).status).toBe(200);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('refuses a metadata request without Metadata-Flavor: Google, as the real server does', async () => {
    const response = await fetch(`${pubsub.url}/computeMetadata/v1/instance/service-accounts/default/token`);
    expect(response.status).toBe(403);
  });
});
