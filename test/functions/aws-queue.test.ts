import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AwsWorld,
  captureOutput,
  copies,
  emfByProvider,
  lambdaContext,
  message,
  routingConfig,
  SAMPLE_SQS_EVENT,
  SES_MESSAGE_ID,
  SMTP_PASSWORD,
  SMTP_USER,
  sqsEvent,
  sqsRecord,
  startAwsWorld,
  THROTTLE_FAULT,
} from './aws-lambda.ts';

type QueueHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

let world: AwsWorld;
let deadLetterUrl: string;
/** What Powertools writes (JSON logs and EMF metrics), captured in every test and read by some. */
let output: ReturnType<typeof captureOutput>;
const DLQ = 'mailroute-dead-letters';

/** A new container: every module loaded afresh (a cold start); the same queues, table and servers. */
async function coldQueueHandler(): Promise<QueueHandler> {
  vi.resetModules();
  return (await import('../../functions/aws/queue.ts')).handler as unknown as QueueHandler;
}

/** The dead-letter queue's messages as the tests compare them: body and attributes, by source message id. */
function deadLetters(queue = DLQ) {
  return world.sqs
    .messages(queue)
    .map((m) => ({
      body: m.Body,
      reason: m.MessageAttributes?.reason?.StringValue,
      errorCode: m.MessageAttributes?.errorCode?.StringValue,
      sourceMessageId: m.MessageAttributes?.sourceMessageId?.StringValue,
      receiveCount: m.MessageAttributes?.receiveCount?.StringValue,
      ...(m.MessageGroupId ? { groupId: m.MessageGroupId, deduplicationId: m.MessageDeduplicationId } : {}),
    }))
    .sort((a, b) => String(a.sourceMessageId).localeCompare(String(b.sourceMessageId)));
}

beforeAll(async () => {
  world = await startAwsWorld();
  deadLetterUrl = world.sqs.createQueue(DLQ);
  vi.stubEnv('MR_SMTP_USER', SMTP_USER);
  vi.stubEnv('MR_SMTP_PASS', SMTP_PASSWORD);
  const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(routingConfig(world.primary, world.busy, credentials)));
  vi.stubEnv('MAILROUTE_DLQ_URL', deadLetterUrl);
});
beforeEach(async () => {
  await world.freshTable();
  output = captureOutput();
});
afterEach(() => {
  output.restore();
  world.sqs.faults.clear();
  world.sqs.messages(DLQ).splice(0);
  world.primary.fault = undefined;
  world.busy.fault = THROTTLE_FAULT;
});
afterAll(() => world.stop());

describe('SQS queue handler', () => {
  it("dead-letters AWS's own sample event (its body is not JSON) with the original body, and acknowledges it", async () => {
    const handler = await coldQueueHandler();
    const result = await handler(structuredClone(SAMPLE_SQS_EVENT), lambdaContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      {
        body: 'Message Body',
        reason: expect.stringMatching(/^INVALID_JSON: the record body is not JSON/),
        errorCode: 'INVALID_JSON',
        sourceMessageId: 'MessageID_1',
        receiveCount: '2',
      },
    ]);
  });

  it('mixed batch: exactly the throttled record is retried; permanent failures go to the DLQ at once', async () => {
    const records = {
      good: sqsRecord('0b9a7c1e-0001-4d6f-9c1a-5e2f7a3b8c01', JSON.stringify(message('mixed good'))),
      notJson: sqsRecord('0b9a7c1e-0002-4d6f-9c1a-5e2f7a3b8c02', '{"from": "app@example.com", "to": '),
      invalid: sqsRecord(
        '0b9a7c1e-0003-4d6f-9c1a-5e2f7a3b8c03',
        JSON.stringify(message('mixed invalid', { to: ['ann@example.net', 'not an address'] })),
      ),
      rejected: sqsRecord(
        '0b9a7c1e-0004-4d6f-9c1a-5e2f7a3b8c04',
        JSON.stringify(message('mixed rejected', { to: 'nobody@example.net' })),
      ),
      throttled: sqsRecord(
        '0b9a7c1e-0005-4d6f-9c1a-5e2f7a3b8c05',
        JSON.stringify(message('mixed throttled', { route: 'busy' })),
      ),
      keyed: sqsRecord(
        '0b9a7c1e-0006-4d6f-9c1a-5e2f7a3b8c06',
        JSON.stringify(message('mixed keyed', { idempotencyKey: 'order-1042-receipt' })),
      ),
    };
    // The relay refuses this recipient (and so every recipient of that message) at RCPT TO.
    world.primary.fault = { stage: 'rcpt', recipients: ['nobody@example.net'], reply: '550 Mailbox unavailable' };
    const handler = await coldQueueHandler();
    const result = await handler(sqsEvent(...Object.values(records)), lambdaContext());

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records.throttled.messageId }] });
    expect(deadLetters()).toEqual([
      {
        body: records.notJson.body,
        reason: expect.stringMatching(/^INVALID_JSON: /),
        errorCode: 'INVALID_JSON',
        sourceMessageId: records.notJson.messageId,
        receiveCount: '1',
      },
      {
        body: records.invalid.body,
        reason: expect.stringMatching(/^INVALID_MESSAGE: Invalid message: to\[1\]/),
        errorCode: 'INVALID_MESSAGE',
        sourceMessageId: records.invalid.messageId,
        receiveCount: '1',
      },
      {
        body: records.rejected.body,
        reason: expect.stringMatching(/^RECIPIENT_REJECTED: .*nobody@example\.net.*550/),
        errorCode: 'RECIPIENT_REJECTED',
        sourceMessageId: records.rejected.messageId,
        receiveCount: '1',
      },
    ]);
    expect([copies(world.primary, 'mixed good'), copies(world.primary, 'mixed keyed')]).toEqual([1, 1]);
    expect(world.primary.received).toHaveLength(2);
    expect(world.busy.received).toHaveLength(0);

    const lines = output.lines();
    // Metrics in CloudWatch EMF, one line per provider entry.
    const emf = emfByProvider(lines);
    expect(emf.primary).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'mailroute',
            Dimensions: [['provider']],
            Metrics: [
              { Name: 'sent', Unit: 'Count' },
              { Name: 'failed', Unit: 'Count' },
              { Name: 'throttled', Unit: 'Count' },
              { Name: 'failover', Unit: 'Count' },
              { Name: 'latency', Unit: 'Milliseconds' },
            ],
          },
        ],
      },
      provider: 'primary',
      sent: 2,
      failed: 1,
      throttled: 0,
      failover: 0,
    });
    expect(emf.primary?.latency).toHaveLength(3);
    expect(emf.busy).toMatchObject({ provider: 'busy', sent: 0, failed: 0, throttled: 1, failover: 0 });
    expect(emf.busy?.latency).toEqual(expect.any(Number));

    // One log line per attempt: provider, mode, outcome, message id, and the provider's id on the one that sent.
    const attempts = lines.filter((l) => l.message === 'attempt');
    expect(attempts).toHaveLength(4);
    const sentGood = attempts.find((l) => l.queueMessageId === records.good.messageId);
    expect(sentGood).toMatchObject({
      level: 'INFO',
      service: 'mailroute',
      function_name: 'mailroute-queue',
      cold_start: true,
      name: 'primary',
      provider: 'ses',
      mode: 'smtp',
      outcome: 'sent',
      providerMessageId: SES_MESSAGE_ID,
      messageId: expect.stringMatching(/^<[0-9a-f]+@example\.com>$/),
    });
    expect(attempts.find((l) => l.queueMessageId === records.throttled.messageId)).toMatchObject({
      name: 'busy',
      outcome: 'failed',
      errorCode: 'THROTTLED',
    });
    const statuses = lines.filter((l) => l.message === 'record').map((l) => [l.queueMessageId, l.status]);
    expect(new Map(statuses as [string, string][])).toEqual(
      new Map([
        [records.good.messageId, 'sent'],
        [records.notJson.messageId, 'dead-letter'],
        [records.invalid.messageId, 'dead-letter'],
        [records.rejected.messageId, 'dead-letter'],
        [records.throttled.messageId, 'retry'],
        [records.keyed.messageId, 'sent'],
      ]),
    );
    // Addresses are masked and secrets never printed.
    const text = output.text();
    expect(text).toContain('n***@example.net');
    expect(text).not.toMatch(/ann@example\.net|nobody@example\.net/);
    expect(text).not.toContain(SMTP_PASSWORD);
  });

  it('a redelivered batch sends nothing twice, in a new container too (idempotency records in DynamoDB)', async () => {
    const batch = [
      sqsRecord('6c2d8e4f-0001-4a7b-8c9d-1e2f3a4b5c01', JSON.stringify(message('redelivered one'))),
      sqsRecord('6c2d8e4f-0002-4a7b-8c9d-1e2f3a4b5c02', JSON.stringify(message('redelivered two'))),
      sqsRecord('6c2d8e4f-0003-4a7b-8c9d-1e2f3a4b5c03', JSON.stringify(message('redelivered busy', { route: 'busy' }))),
    ];
    const retryBusy = { batchItemFailures: [{ itemIdentifier: batch[2]!.messageId }] };
    expect(await (await coldQueueHandler())(sqsEvent(...batch), lambdaContext())).toEqual(retryBusy);

    // The container dies before its answer reaches SQS: the whole batch comes back, to another container, twice.
    const again = batch.map((r) => sqsRecord(r.messageId, r.body, { receiveCount: 2 }));
    const handler = await coldQueueHandler();
    expect(await handler(sqsEvent(...again), lambdaContext())).toEqual(retryBusy);
    expect(await handler(sqsEvent(...again), lambdaContext())).toEqual(retryBusy);

    expect(copies(world.primary, 'redelivered one')).toBe(1);
    expect(copies(world.primary, 'redelivered two')).toBe(1);
    expect(copies(world.busy, 'redelivered busy')).toBe(0);
    expect(deadLetters()).toEqual([]);
    const statuses = output.lines().filter((l) => l.message === 'record' && l.queueMessageId === batch[0]!.messageId);
    expect(statuses.map((l) => l.status)).toEqual(['sent', 'duplicate', 'duplicate']);
    // Metrics count what was attempted now: the duplicates add no `sent`.
    const sent = output.lines().filter((l) => l._aws && l.provider === 'primary');
    expect(sent.map((l) => l.sent)).toEqual([2]);
  });

  it('FIFO: a retry in a message group holds back the rest of that group; other groups go on', async () => {
    const fifoDlq = world.sqs.createQueue('mailroute-dead-letters.fifo');
    vi.stubEnv('MAILROUTE_DLQ_URL', fifoDlq);
    const group = (id: string, body: unknown, groupId: string, sequence: number) =>
      sqsRecord(id, typeof body === 'string' ? body : JSON.stringify(body), { groupId, sequence });
    const records = [
      group('9f1e2d3c-0001-4b5a-8c7d-6e5f4a3b2c01', message('fifo a1'), 'customer-1', 1),
      group('9f1e2d3c-0002-4b5a-8c7d-6e5f4a3b2c02', message('fifo a2', { route: 'busy' }), 'customer-1', 2),
      group('9f1e2d3c-0003-4b5a-8c7d-6e5f4a3b2c03', message('fifo a3'), 'customer-1', 3),
      group('9f1e2d3c-0004-4b5a-8c7d-6e5f4a3b2c04', 'not json', 'customer-2', 4),
      group('9f1e2d3c-0005-4b5a-8c7d-6e5f4a3b2c05', message('fifo b2'), 'customer-2', 5),
    ];
    try {
      const result = await (await coldQueueHandler())(sqsEvent(...records), lambdaContext());
      expect(result).toEqual({
        batchItemFailures: [{ itemIdentifier: records[1]!.messageId }, { itemIdentifier: records[2]!.messageId }],
      });
    } finally {
      vi.stubEnv('MAILROUTE_DLQ_URL', deadLetterUrl);
    }
    expect(['fifo a1', 'fifo a3', 'fifo b2'].map((s) => copies(world.primary, s))).toEqual([1, 0, 1]);
    // A dead-lettered record does not hold its group back; on a FIFO DLQ it keeps its group.
    expect(deadLetters('mailroute-dead-letters.fifo')).toEqual([
      {
        body: 'not json',
        reason: expect.stringMatching(/^INVALID_JSON/),
        errorCode: 'INVALID_JSON',
        sourceMessageId: records[3]!.messageId,
        receiveCount: '1',
        groupId: 'customer-2',
        deduplicationId: records[3]!.messageId,
      },
    ]);
  });

  it('keeps a record on the queue when the DLQ refuses it', async () => {
    world.sqs.faults.add({ status: 400, errorCode: 'QueueDoesNotExist' });
    const record = sqsRecord('2a3b4c5d-0001-4e6f-8a9b-0c1d2e3f4a51', 'not json either');
    const result = await (await coldQueueHandler())(sqsEvent(record), lambdaContext());
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(deadLetters()).toEqual([]);
  });

  it('a DLQ that takes the request and never answers: the handler still answers in time, the sent record acknowledged, the other retried', async () => {
    const records = {
      good: sqsRecord('2a3b4c5d-0011-4e6f-8a9b-0c1d2e3f4a61', JSON.stringify(message('silent dlq good'))),
      notJson: sqsRecord('2a3b4c5d-0012-4e6f-8a9b-0c1d2e3f4a62', 'not json, and the DLQ is silent'),
    };
    // Every SQS request hangs (only the DLQ write goes to SQS here): a retry by the SDK would hang too.
    world.sqs.faults.add({ hang: true, fraction: 1 });
    const timeoutMs = 3_000;
    const context = lambdaContext('mailroute-queue', timeoutMs);
    const end = Date.now() + timeoutMs;
    const handler = await coldQueueHandler();
    // middy fails the invocation with a TimeoutError when the handler has not answered by the function's end.
    const result = await handler(sqsEvent(records.good, records.notJson), context);
    expect(Date.now()).toBeLessThan(end);
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records.notJson.messageId }] });
    expect(copies(world.primary, 'silent dlq good')).toBe(1);
    expect(deadLetters()).toEqual([]);
    const retried = output
      .lines()
      .find((l) => l.message === 'record' && l.queueMessageId === records.notJson.messageId);
    expect(retried).toMatchObject({
      status: 'retry',
      reason: expect.stringMatching(/^dead-letter write did not finish in the \d+ ms left; INVALID_JSON: /),
    });

    // SQS delivers the retried record again; the DLQ answers now: it is set aside, nothing was lost.
    world.sqs.faults.clear();
    const again = sqsRecord(records.notJson.messageId, records.notJson.body, { receiveCount: 2 });
    expect(await handler(sqsEvent(again), lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(deadLetters()).toEqual([
      {
        body: records.notJson.body,
        reason: expect.stringMatching(/^INVALID_JSON: /),
        errorCode: 'INVALID_JSON',
        sourceMessageId: records.notJson.messageId,
        receiveCount: '2',
      },
    ]);
    expect(copies(world.primary, 'silent dlq good')).toBe(1);
  });

  it("sends nothing after the function's deadline: the record goes back to the queue", async () => {
    const record = sqsRecord('2a3b4c5d-0002-4e6f-8a9b-0c1d2e3f4a52', JSON.stringify(message('too late')));
    // 900 ms left is inside the 1 s margin kept for the dead-letter writes and the answer.
    const result = await (await coldQueueHandler())(sqsEvent(record), lambdaContext('mailroute-queue', 900));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(copies(world.primary, 'too late')).toBe(0);
  });

  it('refuses a wrong MAILROUTE_CONCURRENCY by name (the whole batch fails, nothing is sent)', async () => {
    vi.stubEnv('MAILROUTE_CONCURRENCY', 'ten');
    try {
      const handler = await coldQueueHandler();
      const record = sqsRecord('2a3b4c5d-0003-4e6f-8a9b-0c1d2e3f4a53', JSON.stringify(message('never')));
      await expect(handler(sqsEvent(record), lambdaContext())).rejects.toThrow(
        /MAILROUTE_CONCURRENCY must be a positive integer, not "ten"/,
      );
    } finally {
      vi.stubEnv('MAILROUTE_CONCURRENCY', '');
    }
    expect(copies(world.primary, 'never')).toBe(0);
  });
});
