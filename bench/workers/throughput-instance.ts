// One "Lambda instance" of the throughput benchmark (bench/throughput.ts), in its own process as Lambda runs each
// instance: the real SQS queue handler (functions/aws/queue.ts, configured by the environment the bench gives this
// process) fed by a loop that does what the SQS event source mapping does for one concurrent invocation: receive
// up to 10 messages, build the SQS event, invoke, then delete the records not named in `batchItemFailures`.
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { handler } from '../../functions/aws/queue.ts';

interface Args {
  queueUrl: string;
  queueArn: string;
  /** Which instance this is (log stream name). */
  index: number;
  /** Wait between two empty receives (the emulator answers at once; SQS would hold a long poll open). */
  idlePollMs: number;
}

export interface InstanceReport {
  /** process.cpuUsage() from `go` to `stop`, µs: all of it, and the part spent in the handler's invocations. */
  cpuUs: number;
  handlerCpuUs: number;
  /** Records handed to the handler, batches (invocations), and empty receives. */
  records: number;
  batches: number;
  emptyReceives: number;
  /** Records named in batchItemFailures; invocations that threw (their whole batch went back). */
  itemFailures: number;
  invocationErrors: number;
  deleted: number;
  maxRssMb: number;
  /** [SQS message id, epoch ms this instance first received it]. */
  received: [string, number][];
}

const args = JSON.parse(process.argv[2]!) as Args;
const region = process.env.AWS_REGION ?? 'us-east-1';
const sqs = new SQSClient({});
const invoke = handler as unknown as (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const FUNCTION_TIMEOUT_MS = 30_000; // serverless.yml: custom.queue.functionTimeout
const logStream = `2026/11/29/[$LATEST]${randomUUID().replaceAll('-', '')}`;

/** The Lambda context the Node.js runtime passes, with a real countdown from the function's timeout. */
function context(): Context {
  const end = Date.now() + FUNCTION_TIMEOUT_MS;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'mailroute-queue',
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:mailroute-queue`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/mailroute-queue',
    logStreamName: logStream,
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** ReceiveMessage's message attributes as the event source mapping writes them (camelCase, list fields). */
function eventAttributes(attributes: Record<string, MessageAttributeValue> = {}): SQSMessageAttributes {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, a]) => [
      name,
      {
        dataType: a.DataType ?? 'String',
        ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
        ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
        stringListValues: [],
        binaryListValues: [],
      },
    ]),
  );
}

/** One received message as a record of the SQS event (the shape of AWS's sample event). */
function toRecord(m: Message): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body!,
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
    },
    messageAttributes: eventAttributes(m.MessageAttributes),
    md5OfBody: m.MD5OfBody!,
    eventSource: 'aws:sqs',
    eventSourceARN: args.queueArn,
    awsRegion: region,
  };
}

const send = (message: unknown) => process.send!(message);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Cold start and warm-up, outside the measure: the mailer, its SDK client and connections, Powertools, and enough
// full batches for the JIT to settle, as in an instance that has been running. Synthetic records, not the queue's.
const WARM_UP_BATCHES = 5;
for (let b = 0; b < WARM_UP_BATCHES; b++) {
  const records = Array.from({ length: 10 }, (_, i) =>
    toRecord({
      MessageId: randomUUID(),
      ReceiptHandle: randomUUID(),
      MD5OfBody: '',
      Body: JSON.stringify({
        from: 'Billing <billing@example.com>',
        to: 'warm@example.net',
        subject: `warmup-${args.index}-${b}-${i}`,
        text: 'Warm-up.',
        html: '<p>Warm-up.</p>',
      }),
    }),
  );
  const warm = await invoke({ Records: records }, context());
  if (warm.batchItemFailures.length) throw new Error('a warm-up send failed');
}
// The poller's own client too (the queue is still empty; the emulator accepts any receipt handle).
await sqs.send(new ReceiveMessageCommand({ QueueUrl: args.queueUrl, MaxNumberOfMessages: 10 }));
await sqs.send(new DeleteMessageCommand({ QueueUrl: args.queueUrl, ReceiptHandle: randomUUID() }));

let stopping = false;
process.on('message', (message: { type: string }) => {
  if (message.type === 'go') void loop();
  if (message.type === 'stop') stopping = true;
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });

async function loop(): Promise<void> {
  const report: InstanceReport = {
    cpuUs: 0,
    handlerCpuUs: 0,
    records: 0,
    batches: 0,
    emptyReceives: 0,
    itemFailures: 0,
    invocationErrors: 0,
    deleted: 0,
    maxRssMb: 0,
    received: [],
  };
  const seen = new Set<string>();
  const cpu0 = process.cpuUsage();
  while (!stopping) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: args.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 20,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (!Messages.length) {
      report.emptyReceives++;
      await sleep(args.idlePollMs);
      continue;
    }
    const receivedAt = Date.now();
    for (const m of Messages) {
      if (seen.has(m.MessageId!)) continue;
      seen.add(m.MessageId!);
      report.received.push([m.MessageId!, receivedAt]);
    }
    report.batches++;
    report.records += Messages.length;
    let retry: Set<string>;
    // The loop is sequential, so the CPU used between these two reads is the invocation's (what a Lambda
    // instance pays); the receive and delete calls around it are the event source mapping's, outside Lambda.
    const before = process.cpuUsage();
    try {
      const answer = await invoke({ Records: Messages.map(toRecord) }, context());
      retry = new Set(answer.batchItemFailures.map((f) => f.itemIdentifier));
      report.itemFailures += retry.size;
    } catch {
      // A failed invocation: the mapping deletes nothing, and the batch is visible again after the timeout.
      report.invocationErrors++;
      continue;
    } finally {
      const used = process.cpuUsage(before);
      report.handlerCpuUs += used.user + used.system;
    }
    // The mapping deletes with DeleteMessageBatch; the emulator has DeleteMessage only, so one call per record.
    const done = Messages.filter((m) => !retry.has(m.MessageId!));
    await Promise.all(
      done.map((m) => sqs.send(new DeleteMessageCommand({ QueueUrl: args.queueUrl, ReceiptHandle: m.ReceiptHandle }))),
    );
    report.deleted += done.length;
  }
  const cpu = process.cpuUsage(cpu0);
  report.cpuUs = cpu.user + cpu.system;
  report.maxRssMb = process.resourceUsage().maxRSS / 1024;
  send({ type: 'done', report });
  sqs.destroy();
  setTimeout(() => process.exit(0), 50).unref();
}
