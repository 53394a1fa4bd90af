import { GoogleAuth } from 'google-auth-library';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPubSubProducer, PUBSUB_MAX_MESSAGE_BYTES, type PubSubProducerOptions } from '../../client/gcp.ts';
import { createPubSubPublisher } from '../../client/gcp-pubsub.ts';
import {
  AuthenticationError,
  ConfigurationError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../../core/errors.ts';
import { PUBSUB_SCOPE, type PubSubEmulator, startPubSubEmulator } from '../../emulators/pubsub/index.ts';

const PROJECT = 'mailroute-tests';
let pubsub: PubSubEmulator;
let topic: string;

/** A producer against the emulator with a token the emulator issued (as `gcloud auth print-access-token`). */
const producer = (options: Partial<PubSubProducerOptions> = {}) =>
  createPubSubProducer({
    project: PROJECT,
    topic: 'mailroute-send',
    apiRoot: pubsub.url,
    auth: { getAccessToken: async () => pubsub.issueToken([PUBSUB_SCOPE]) },
    ...options,
  });
const message = (extra: Record<string, unknown> = {}) => ({
  from: 'app@example.com',
  to: 'ann@example.net',
  subject: 'Hi',
  text: 'Hello',
  ...extra,
});
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

beforeAll(async () => {
  pubsub = await startPubSubEmulator({ project: PROJECT });
  topic = pubsub.createTopic(PROJECT, 'mailroute-send');
});
afterEach(() => pubsub.reset());
afterAll(() => pubsub.close());

describe('createPubSubProducer', () => {
  it('publishes the message JSON as written, with the idempotencyKey attribute and an ordering key', async () => {
    const input = message({ idempotencyKey: 'welcome-42', to: ['Ann <ann@example.net>'] });
    const sent = await producer({ orderingKey: (m) => m.from.address }).enqueue(input);
    expect(sent).toEqual({ messageId: expect.stringMatching(/^\d+$/), orderingKey: 'app@example.com' });
    const [stored] = pubsub.messages(topic);
    expect(stored).toMatchObject({
      messageId: sent.messageId,
      text: JSON.stringify(input),
      attributes: { idempotencyKey: 'welcome-42' },
      orderingKey: 'app@example.com',
    });
    // Without a key: no attributes at all (the handler then keys on the Pub/Sub message id).
    await producer().enqueue(message());
    expect(pubsub.messages(topic)[1]?.attributes).toEqual({});
  });

  it('gets its token from application default credentials by default (the metadata server on Cloud Run)', async () => {
    vi.stubEnv('GCE_METADATA_HOST', pubsub.metadataHost);
    vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', '');
    try {
      const adc = createPubSubProducer({ project: PROJECT, topic: 'mailroute-send', apiRoot: pubsub.url });
      await adc.enqueue(message());
      const explicit = new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: PROJECT });
      await producer({ auth: explicit }).enqueue(message());
    } finally {
      vi.unstubAllEnvs();
    }
    expect(pubsub.messages(topic)).toHaveLength(2);
    expect(pubsub.tokenRequests.slice(-2)).toEqual([{ scopes: [PUBSUB_SCOPE] }, { scopes: [PUBSUB_SCOPE] }]);
  });

  it('validates first: an invalid message throws InvalidMessageError with every field, and nothing is published', async () => {
    const error = await failure(producer().enqueue(message({ to: ['ann@example.net', 'not an address'], text: 5 })));
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect((error as InvalidMessageError).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['to[1]', 'text']));
    expect(pubsub.messages(topic)).toEqual([]);
  });

  it('refuses a message over the limit before publishing, naming the limit; the service limit maps the same way', async () => {
    const big = message({ text: 'x'.repeat(5000) });
    const error = await failure(producer({ maxMessageBytes: 4096 }).enqueue(big));
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect((error as MessageTooLargeError).limit).toBe(4096);
    expect((error as Error).message).toMatch(/over the limit of 4096 bytes of pubsub/);
    expect(await failure(producer().enqueue(message({ text: 'x'.repeat(PUBSUB_MAX_MESSAGE_BYTES) })))).toMatchObject({
      code: 'MESSAGE_TOO_LARGE',
      limit: PUBSUB_MAX_MESSAGE_BYTES,
    });
    expect(pubsub.messages(topic)).toEqual([]);

    const small = await startPubSubEmulator({ project: PROJECT, maxRequestBytes: 2048 });
    try {
      small.createTopic(PROJECT, 'mailroute-send');
      const refused = await failure(
        producer({ apiRoot: small.url, auth: { getAccessToken: async () => ({ token: small.issueToken() }) } }).enqueue(
          big,
        ),
      );
      expect(refused).toBeInstanceOf(MessageTooLargeError);
      expect(refused).toMatchObject({ limit: 2048, actual: expect.any(Number) });
    } finally {
      await small.close();
    }
  });

  it('maps HTTP errors: 429 throttled, 401/403 authentication, 404 names the topic, 5xx unavailable', async () => {
    const send = () => failure(producer().enqueue(message()));
    pubsub.faults.add({ status: 429, retryAfter: 2 });
    const throttled = await send();
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ retryable: true, retryAfterMs: 2000, providerCode: 'RESOURCE_EXHAUSTED' });

    const refused = await failure(
      producer({ auth: { getAccessToken: async () => 'ya29.not-issued' } }).enqueue(message()),
    );
    expect(refused).toBeInstanceOf(AuthenticationError);
    expect((refused as Error).message).toMatch(
      /projects\/mailroute-tests\/topics\/mailroute-send was refused \(UNAUTHENTICATED\)/,
    );
    pubsub.faults.add({ status: 403 });
    expect(await send()).toBeInstanceOf(AuthenticationError);

    const missing = await failure(producer({ topic: 'no-such-topic' }).enqueue(message()));
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect((missing as ConfigurationError).issues).toEqual([
      {
        path: 'topic',
        message: 'projects/mailroute-tests/topics/no-such-topic does not exist (or is in another project)',
      },
    ]);

    pubsub.faults.add({ status: 503 });
    expect(await send()).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryable: true });
    pubsub.faults.add({ drop: true });
    expect(await send()).toBeInstanceOf(ProviderUnavailableError);
    pubsub.faults.add({ latencyMs: 300 });
    expect(await failure(producer({ timeoutMs: 50 }).enqueue(message()))).toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringMatching(/no answer within 50 ms/),
    });
    expect(pubsub.messages(topic)).toEqual([]);
  });

  it('a token that cannot be had: no credentials is a setup problem, a refused grant an authentication one', async () => {
    const noAdc = () => Promise.reject(new Error('Could not load the default credentials. Browse to https://...'));
    expect(await failure(producer({ auth: { getAccessToken: noAdc } }).enqueue(message()))).toMatchObject({
      code: 'CONFIGURATION',
      issues: [{ path: 'auth', message: 'no application default credentials found' }],
    });
    const refused = () => Promise.reject(new Error('invalid_grant: account not found'));
    expect(await failure(producer({ auth: { getAccessToken: refused } }).enqueue(message()))).toBeInstanceOf(
      AuthenticationError,
    );
  });

  it('checks its options strictly and names the one to fix', async () => {
    expect(() => createPubSubProducer({ project: PROJECT, topic: 'mailroute-send', topics: 'x' } as never)).toThrow(
      /createPubSubProducer\.topics is not an option/,
    );
    expect(() => createPubSubProducer({ project: PROJECT } as never)).toThrow(
      /createPubSubProducer\.topic is required/,
    );
    expect(() => createPubSubProducer({ project: 'Bad_Project', topic: 'mailroute-send' })).toThrow(
      /not a Google Cloud project id/,
    );
    expect(() => createPubSubProducer({ project: PROJECT, topic: 'goog-send' })).toThrow(/not a Pub\/Sub topic id/);
    expect(() => createPubSubProducer({ project: PROJECT, topic: 't1x', maxMessageBytes: 20_000_000 })).toThrow(
      /maxMessageBytes must be a whole number from 1 to 10000000/,
    );
    expect(await failure(producer({ orderingKey: () => '' }).enqueue(message()))).toMatchObject({
      issues: [{ path: 'createPubSubProducer.orderingKey' }],
    });
  });
});

describe("createPubSubPublisher: a caller's signal (a function's remaining time)", () => {
  const publisher = (getAccessToken = async () => pubsub.issueToken([PUBSUB_SCOPE])) =>
    createPubSubPublisher({ topic, apiRoot: pubsub.url, auth: { getAccessToken } });
  const data = Buffer.from('{"set":"aside"}');

  it('cancels a publish the topic never answers when the signal aborts: retryable, and nothing is stored', async () => {
    pubsub.faults.add({ hang: true, fraction: 1, pathIncludes: ':publish' });
    const controller = new AbortController();
    const publishing = failure(publisher().publish({ data }, undefined, { signal: controller.signal }));
    controller.abort(new Error('the function is out of time'));
    const error = await publishing;
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ retryable: true, message: /publish to .*mailroute-send was abandoned/ });
    pubsub.faults.clear();
    expect(pubsub.messages(topic)).toEqual([]);
  });

  it('gives up a token fetch that never ends, too (google-auth-library takes no signal)', async () => {
    const controller = new AbortController();
    const stuck = publisher(() => new Promise<never>(() => {}));
    const publishing = failure(stuck.publish({ data }, undefined, { signal: controller.signal }));
    controller.abort();
    expect(await publishing).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: /was abandoned/ });
    // Already aborted: nothing is tried.
    expect(await failure(publisher().publish({ data }, undefined, { signal: controller.signal }))).toMatchObject({
      message: /was abandoned/,
    });
    expect(pubsub.messages(topic)).toEqual([]);
  });

  it('publishes as before with a signal that does not abort', async () => {
    const id = await publisher().publish({ data }, undefined, { signal: new AbortController().signal });
    expect(pubsub.messages(topic).map((m) => m.messageId)).toEqual([id]);
  });
});
