import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type OciQueueEmulator, startOciQueueEmulator } from '../../emulators/oci-queue/server.ts';
import { FAILED_CHANNEL, failedQueueSink } from '../../functions/oci/failed-queue.ts';
import { apiKey, FINGERPRINT, keyId, TENANCY, USER } from '../functions/oci-world.ts';
import { freePort } from '../helpers/child-process.ts';
import { type DlqCloud, dlqSuite, messageBody, run, threeLetters, writeDeadLetters } from './dlq-fixtures.ts';

let queues: OciQueueEmulator;

/** The API signing key, as the function (and an operator's shell) gives it. */
const keyEnv = {
  MAILROUTE_OCI_TENANCY: TENANCY,
  MAILROUTE_OCI_USER: USER,
  MAILROUTE_OCI_FINGERPRINT: FINGERPRINT,
  MAILROUTE_OCI_PRIVATE_KEY: apiKey.privateKey.replace(/\n/g, '\\n'),
};

beforeAll(async () => {
  queues = await startOciQueueEmulator({ keys: [{ keyId, publicKeyPem: apiKey.publicKey }] });
});
afterAll(() => queues.close());

const cloud: DlqCloud = {
  name: 'the OCI Queue emulator',
  async fresh() {
    const id = randomUUID().slice(0, 8);
    const failed = `ocid1.queue.oc1.eu-frankfurt-1.amaaaaaafailed${id}`;
    const send = `ocid1.queue.oc1.eu-frankfurt-1.amaaaaaasend${id}`;
    queues.createQueue(failed);
    queues.createQueue(send);
    const env = { ...keyEnv, MAILROUTE_FAILED_QUEUE_ID: failed, MAILROUTE_FAILED_QUEUE_ENDPOINT: queues.url };
    return {
      from: `oci:${failed}`,
      // The OCID alone: its form says OCI.
      to: send,
      badTo: `oci:ocid1.queue.oc1.eu-frankfurt-1.amaaaaaamissing${id}`,
      put: (letters) => writeDeadLetters(failedQueueSink(env), letters),
      dlqBodies: async () => queues.messages(failed).map((m) => m.content),
      sentBodies: async () => queues.messages(send).map((m) => m.content),
    };
  },
  args: () => ['--endpoint', queues.url],
  env: () => ({ ...keyEnv }),
};

// Installed before any adapter exists, so the CLI's filter wraps it: what reaches it is what a user would see.
const warnings = vi.spyOn(console, 'warn').mockImplementation(() => {});

dlqSuite(cloud);

describe('mailroute dlq on OCI: what only OCI Queue has', () => {
  it('--channel reads the failed channel only; --to-endpoint reaches a send queue at another endpoint', async () => {
    const q = await cloud.fresh();
    const from = q.from.slice('oci:'.length);
    await q.put(threeLetters('channel').slice(0, 1));
    // Something else on the same queue, on another channel.
    queues.messages(from).push({ ...queues.messages(from)[0]!, id: 1, content: 'other', metadata: { channelId: 'x' } });
    const listed = await run(['list', '--from', q.from, '--channel', FAILED_CHANNEL, '--json'], cloud);
    expect(JSON.parse(listed.text)).toMatchObject({ count: 1, messages: [{ errorCode: 'RECIPIENT_REJECTED' }] });
    const closed = `http://127.0.0.1:${await freePort()}`;
    const failed = await run(
      ['replay', '--from', q.from, '--to', q.to, '--channel', FAILED_CHANNEL, '--to-endpoint', closed],
      cloud,
    );
    expect(failed.code).toBe(1);
    expect(failed.lines.find((l) => l.startsWith('failed '))).toMatch(/OCI Queue PutMessages .* failed/);
    expect(await q.dlqBodies()).toHaveLength(2);
    const moved = await run(
      ['replay', '--from', q.from, '--to', q.to, '--channel', FAILED_CHANNEL, '--to-endpoint', queues.url],
      cloud,
    );
    expect(moved.code).toBe(0);
    expect(await q.sentBodies()).toEqual([messageBody('rejected channel')]);
    expect(await q.dlqBodies()).toEqual(['other']);
  });

  it('replayed but not removed (DeleteMessage failed): said, counted as left, exit 1', async () => {
    const q = await cloud.fresh();
    await q.put(threeLetters('undeleted').slice(0, 1));
    queues.faults.add({ status: 500, pathIncludes: '/messages/' });
    const { code, lines } = await run(['replay', '--from', q.from, '--to', q.to], cloud);
    expect(code).toBe(1);
    expect(lines.find((l) => l.startsWith('replayed '))).toMatch(
      /^replayed \S+ \(RECIPIENT_REJECTED\) as \S+, but it is still in the dead-letter queue \(OCI Queue DeleteMessage .*\): remove it by hand, or a later replay sends it again$/,
    );
    expect(lines.at(-1)).toBe('Summary: replayed 1, skipped ambiguous 0, failed 0, left in the dead-letter queue 1.');
    expect(await q.sentBodies()).toHaveLength(1);
    expect(await q.dlqBodies()).toHaveLength(1);
  });

  it("oci-common's own retry notices never reached the console (the failures above are reported as lines)", () => {
    const texts = warnings.mock.calls.map((args) => String(args[0]));
    expect(texts.filter((t) => /retr/i.test(t))).toEqual([]);
  });

  it('without --endpoint: a sentence that says where the messages endpoint comes from', async () => {
    const lines: string[] = [];
    const { dlqCommand } = await import('../../cli/dlq.ts');
    const code = await dlqCommand(['list', '--from', 'oci:ocid1.queue.oc1..x'], (l) => lines.push(l), { env: keyEnv });
    expect(code).toBe(1);
    expect(JSON.parse(lines.join('\n'))).toMatchObject({
      ok: false,
      error: {
        code: 'CONFIGURATION',
        message: expect.stringMatching(/^--endpoint is required: the queue's messages endpoint/),
      },
    });
  });
});
