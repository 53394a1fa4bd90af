import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type PubSubEmulator, startPubSubEmulator } from '../../emulators/pubsub/index.ts';
import { failedTopicSink } from '../../functions/gcp/failed-topic.ts';
import { type DlqCloud, dlqSuite, messageBody, run, threeLetters, writeDeadLetters } from './dlq-fixtures.ts';

const PROJECT = 'mailroute-tests';
let pubsub: PubSubEmulator;

beforeAll(async () => {
  pubsub = await startPubSubEmulator({ project: PROJECT });
  // The runtime service account's token, from the metadata server, as on Cloud Run; for the function and the CLI.
  vi.stubEnv('GCE_METADATA_HOST', pubsub.metadataHost);
  vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', '');
  vi.stubEnv('MAILROUTE_PUBSUB_API_ROOT', pubsub.url);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await pubsub.close();
});

const cloud: DlqCloud = {
  name: 'the Pub/Sub emulator',
  async fresh() {
    const id = randomUUID().slice(0, 8);
    const failed = pubsub.createTopic(PROJECT, `mailroute-failed-${id}`);
    // A topic keeps nothing: the failed topic's pull subscription is what holds the dead letters (infra/gcp).
    const subscription = pubsub.createSubscription(PROJECT, `mailroute-failed-${id}-pull`, failed);
    const send = pubsub.createTopic(PROJECT, `mailroute-send-${id}`);
    return {
      from: `pubsub:${subscription}`,
      to: `pubsub:${send}`,
      badTo: `pubsub:projects/${PROJECT}/topics/missing-${id}`,
      async put(letters) {
        vi.stubEnv('MAILROUTE_FAILED_TOPIC', failed);
        for (const letter of letters) {
          const { record } = letter;
          // What functions/gcp reads from the event: the original data and attributes.
          const read = { ok: true as const, record, original: Buffer.from(record.body), attributes: { origin: 'app' } };
          await writeDeadLetters(failedTopicSink(read), [letter]);
        }
      },
      dlqBodies: async () => pubsub.pending(subscription).map((m) => m.text),
      sentBodies: async () => pubsub.messages(send).map((m) => m.text),
    };
  },
  args: () => ['--endpoint', pubsub.url],
  env: () => ({ GCE_METADATA_HOST: pubsub.metadataHost, GOOGLE_APPLICATION_CREDENTIALS: '' }),
};

dlqSuite(cloud);

describe('mailroute dlq on Pub/Sub: what only Pub/Sub has', () => {
  it('MAILROUTE_PUBSUB_API_ROOT (what the functions use) stands for --endpoint; a message keeps its idempotency key', async () => {
    const q = await cloud.fresh();
    const body = JSON.stringify({ ...JSON.parse(messageBody('keyed')), idempotencyKey: 'order-42' });
    await q.put([{ record: { id: 'src-keyed', body }, error: threeLetters('k')[0]!.error }]);
    const env = { ...cloud.env(), MAILROUTE_PUBSUB_API_ROOT: pubsub.url };
    const lines: string[] = [];
    const { dlqCommand } = await import('../../cli/dlq.ts');
    expect(
      await dlqCommand(['replay', '--from', q.from, '--to', q.to], (l) => lines.push(l), { tty: false, env }),
    ).toBe(0);
    const [sent] = pubsub.messages(q.to.slice('pubsub:'.length));
    expect(sent?.text).toBe(body);
    // The producer's attribute, not the dead letter's reason and error code.
    expect(sent?.attributes).toEqual({ idempotencyKey: 'order-42' });
  });

  it('a subscription that cannot be read stops the replay: what was done is summed up, exit 1', async () => {
    const q = await cloud.fresh();
    await q.put(threeLetters('stop').slice(0, 1));
    pubsub.faults.add({ status: 503, pathIncludes: ':pull' });
    const { code, lines } = await run(['replay', '--from', q.from, '--to', q.to], cloud);
    expect(code).toBe(1);
    expect(lines.slice(-2)).toEqual([
      expect.stringMatching(
        /^stopped: Pub\/Sub pull on \S+ failed \(503\): The service is currently unavailable\. \(PROVIDER_UNAVAILABLE\)$/,
      ),
      'Summary: replayed 0, skipped ambiguous 0, failed 0, left in the dead-letter queue 0 (stopped early: more may be waiting).',
    ]);
    expect(await q.dlqBodies()).toHaveLength(1);
    const json = await run(['replay', '--from', q.from, '--to', q.to, '--json'], cloud);
    expect(JSON.parse(json.text)).toMatchObject({ ok: true, replayed: 1 });
  });

  it('--from must be a subscription and --to a topic', async () => {
    const topic = `projects/${PROJECT}/topics/t-1`;
    const asTopic = await run(['list', '--from', `pubsub:${topic}`], cloud);
    expect(asTopic.code).toBe(2);
    expect(asTopic.text).toMatch(/--from on Pub\/Sub is a subscription/);
    const asSub = await run(
      ['replay', '--from', `projects/${PROJECT}/subscriptions/s-1`, '--to', `projects/${PROJECT}/subscriptions/s-2`],
      cloud,
    );
    expect(asSub.code).toBe(2);
    expect(asSub.text).toMatch(/--to on Pub\/Sub is the send topic/);
    const missing = await run(['list', '--from', `pubsub:projects/${PROJECT}/subscriptions/nope`], cloud);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.text)).toMatchObject({
      ok: false,
      error: { code: 'CONFIGURATION', message: expect.stringMatching(/subscription does not exist/) },
    });
  });
});
