import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { startSqsEmulator } from '../emulators/sqs/index.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const LATENCY_MS = 50;
const ROUNDS = 7;

function record(i: number): SQSRecord {
  const body = JSON.stringify({
    from: 'bench@example.com',
    to: `user${i}@example.com`,
    subject: `Batch ${i}`,
    text: 'Hello',
  });
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:mailroute-send',
    awsRegion: 'us-east-1',
  };
}

function context(): Context {
  const end = Date.now() + 60_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'mailroute-queue',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:mailroute-queue',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/mailroute-queue',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => end - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * The real SQS queue handler (middy, Powertools, the router) sending through SES API mode to the SES emulator
 * with 50 ms added to every request: a batch of 10 records against a batch of one, in the same warm container.
 */
export async function run(): Promise<BenchSection> {
  const ses = await startSesInItsOwnProcess();
  const sqs = await startSqsEmulator();
  const saved = { ...process.env };
  Object.assign(process.env, {
    MAILROUTE_CONFIG: JSON.stringify({
      providers: [
        {
          name: 'ses',
          provider: 'ses',
          mode: 'api',
          region: 'us-east-1',
          endpoint: ses.url,
          credentials: { accessKeyId: { env: 'BENCH_AWS_KEY' }, secretAccessKey: { env: 'BENCH_AWS_SECRET' } },
        },
      ],
    }),
    BENCH_AWS_KEY: 'bench-key-id',
    BENCH_AWS_SECRET: 'bench-secret-key',
    MAILROUTE_DLQ_URL: sqs.createQueue('dlq'),
    MAILROUTE_CONCURRENCY: '10',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  const originalLog = console.log;
  try {
    const { handler } = await import('../functions/aws/queue.ts');
    const invoke = (event: SQSEvent) =>
      (handler as unknown as (e: SQSEvent, c: Context) => Promise<unknown>)(event, context());
    // Warm the container: cold start, connections.
    await invoke({ Records: [record(-1)] });
    await fetch(`${ses.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ latencyMs: LATENCY_MS, fraction: 1, pathIncludes: '/v2/email' }),
    });
    // EMF metric lines go to stdout; keep the benchmark's output readable.
    console.log = () => {};
    const single: number[] = [];
    const batch: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      await invoke({ Records: [record(round)] });
      single.push(performance.now() - t);
      t = performance.now();
      const answer = (await invoke({ Records: Array.from({ length: 10 }, (_, i) => record(100 * round + i)) })) as {
        batchItemFailures: unknown[];
      };
      batch.push(performance.now() - t);
      if (answer.batchItemFailures.length) throw new Error('a benchmark batch had failures');
    }
    const s = median(single);
    const b = median(batch);
    return {
      title: 'AWS queue handler: a 10-record batch against a single send',
      markdown: [
        `The real SQS handler (middy, Powertools, router, SES API adapter) against the SES emulator with ${LATENCY_MS} ms added to`,
        `every SendEmail; warm container, ${ROUNDS} rounds, medians.`,
        '',
        '| invocation | median wall time |',
        '| --- | ---: |',
        `| 1 record | ${fmt(s, 1)} ms |`,
        `| 10 records (concurrency 10) | ${fmt(b, 1)} ms |`,
        '',
        `**Batch / single: ${fmt(b / s, 2)}** (goal < 1.5).`,
      ].join('\n'),
      summary: [
        {
          measure: `AWS queue handler: 10-record batch / single record, wall time (SES +${LATENCY_MS} ms)`,
          goal: '< 1.5',
          now: fmt(b / s, 2),
          met: b / s < 1.5,
        },
      ],
    };
  } finally {
    console.log = originalLog;
    process.env = saved;
    await ses.close();
    await sqs.close();
  }
}

/** The SES emulator in a separate process, so the provider's own work is not counted as the handler's. */
async function startSesInItsOwnProcess(): Promise<{ url: string; close(): Promise<void> }> {
  const script = `import('${new URL('../emulators/ses/index.ts', import.meta.url).pathname}').then(async (m) => {
    const e = await m.startSesEmulator();
    console.log(e.url);
  });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    url: chunk.toString().trim(),
    close: async () => {
      child.kill();
    },
  };
}
