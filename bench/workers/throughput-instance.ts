// One "Lambda instance" of the throughput benchmark (bench/throughput.ts), in its own process as Lambda runs each
// instance: the real SQS queue handler (functions/aws/queue.ts, configured by the environment the bench gives this
// process), invoked with the SQS events the bench's poller sends over IPC, one at a time, as the Lambda runtime API
// hands an instance one event after another. The poller (the event source mapping's part: receive, build the event,
// delete) runs in the bench's own process, so this process's CPU is the function's alone.
import { randomUUID } from 'node:crypto';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { handler } from '../../functions/aws/queue.ts';
import { toRecord } from './sqs-event.ts';

interface Args {
  queueArn: string;
  /** Which instance this is (log stream name). */
  index: number;
}

export interface InstanceReport {
  /** process.cpuUsage() from `go` to `stop`, µs: all of it, and the part spent in the handler's invocations. */
  cpuUs: number;
  handlerCpuUs: number;
  /** Records handed to the handler, and batches (invocations). */
  records: number;
  batches: number;
  /** Records named in batchItemFailures; invocations that threw (their whole batch went back). */
  itemFailures: number;
  invocationErrors: number;
  maxRssMb: number;
}

/** An event to invoke the handler with, and its answer: the records to retry, or null when the invocation threw. */
export interface InvokeRequest {
  type: 'invoke';
  id: number;
  records: SQSRecord[];
}
export interface InvokeAnswer {
  type: 'answer';
  id: number;
  retry: string[] | null;
}

const args = JSON.parse(process.argv[2]!) as Args;
const region = process.env.AWS_REGION ?? 'us-east-1';
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

const send = (message: unknown) => process.send!(message);

// Cold start and warm-up, outside the measure: the mailer, its SDK client and connections, Powertools, and enough
// full batches for the JIT to settle, as in an instance that has been running. Synthetic records, not the queue's.
const WARM_UP_BATCHES = 5;
for (let b = 0; b < WARM_UP_BATCHES; b++) {
  const records = Array.from({ length: 10 }, (_, i) =>
    toRecord(
      {
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
      },
      args.queueArn,
      region,
    ),
  );
  const warm = await invoke({ Records: records }, context());
  if (warm.batchItemFailures.length) throw new Error('a warm-up send failed');
}

const report: InstanceReport = {
  cpuUs: 0,
  handlerCpuUs: 0,
  records: 0,
  batches: 0,
  itemFailures: 0,
  invocationErrors: 0,
  maxRssMb: 0,
};
let cpu0 = process.cpuUsage();

async function run(request: InvokeRequest): Promise<void> {
  report.batches++;
  report.records += request.records.length;
  // One invocation at a time (the poller waits for the answer), so the CPU between these two reads is the
  // invocation's: what a Lambda instance pays.
  const before = process.cpuUsage();
  let retry: string[] | null;
  try {
    const answer = await invoke({ Records: request.records }, context());
    retry = answer.batchItemFailures.map((f) => f.itemIdentifier);
    report.itemFailures += retry.length;
  } catch {
    report.invocationErrors++;
    retry = null;
  } finally {
    const used = process.cpuUsage(before);
    report.handlerCpuUs += used.user + used.system;
  }
  send({ type: 'answer', id: request.id, retry } satisfies InvokeAnswer);
}

process.on('message', (message: { type: string } | InvokeRequest) => {
  if (message.type === 'go') cpu0 = process.cpuUsage();
  if (message.type === 'invoke') void run(message as InvokeRequest);
  if (message.type === 'stop') {
    const cpu = process.cpuUsage(cpu0);
    report.cpuUs = cpu.user + cpu.system;
    report.maxRssMb = process.resourceUsage().maxRSS / 1024;
    send({ type: 'done', report });
    setTimeout(() => process.exit(0), 50).unref();
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
