import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsProducer } from '../client/sqs-producer.ts';
import type { SesStore } from '../emulators/ses/index.ts';
import { type BenchSection, fmt, type SummaryRow } from './lib.ts';
import { toRecord } from './workers/sqs-event.ts';
import type { InstanceReport, InvokeAnswer, InvokeRequest } from './workers/throughput-instance.ts';

/**
 * Throughput at scale of the whole AWS pipeline: the producer client enqueues a burst of messages on the SQS
 * emulator, then 1, 2, 4 and 8 "Lambda instances" (each its own Node process running the real queue handler, fed
 * by a poller in this process that does what the SQS event source mapping does) drain it through SES API mode to
 * the SES emulator, which adds 50 ms to every SendEmail. `BENCH_THROUGHPUT_MESSAGES` sets the burst (default 5,000) for trial runs.
 */
const MESSAGES = Number(process.env.BENCH_THROUGHPUT_MESSAGES ?? 5000);
const INSTANCES = (process.env.BENCH_THROUGHPUT_INSTANCES ?? '1,2,4,8').split(',').map(Number);
/** A file the instances' stdout (Powertools logs, EMF) is appended to, for a trial run; none by default. */
const INSTANCE_LOG = process.env.BENCH_THROUGHPUT_LOG;
const LATENCY_MS = 50;
/** Records of one batch the handler sends at once: `MAILROUTE_CONCURRENCY` (default 10), at most the batch size. */
const BATCH_SIZE = 10;
const BATCH_CONCURRENCY = 10;
/** SendMessage calls the producer keeps in flight (the client has no batch send: one call per message). */
const PRODUCER_IN_FLIGHT = 16;
const IDLE_POLL_MS = 50;
/** serverless.yml: custom.queue.visibilityTimeout. */
const VISIBILITY_TIMEOUT_S = 185;
const RUN_TIMEOUT_MS = 10 * 60_000;
const CREDENTIALS = { accessKeyId: 'AKIDBENCHROLE', secretAccessKey: 'bench-role-secret' };
const REGION = 'us-east-1';

const WORKERS = new URL('./workers/', import.meta.url).pathname;

interface Emulator {
  url: string;
  child: ChildProcess;
  request<T>(message: Record<string, unknown>): Promise<T>;
}

/** An emulator in its own process (bench/workers/throughput-emulator.ts), answering requests over IPC. */
async function startEmulator(kind: 'sqs' | 'ses'): Promise<Emulator> {
  const child = fork(`${WORKERS}throughput-emulator.ts`, [JSON.stringify({ kind, latencyMs: LATENCY_MS })], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 0;
  const ready = await firstMessage<{ url: string }>(child, `the ${kind} emulator`);
  child.on('message', (m: { id?: number; value?: unknown }) => {
    if (m.id !== undefined) pending.get(m.id)?.(m.value);
    if (m.id !== undefined) pending.delete(m.id);
  });
  return {
    url: ready.url,
    child,
    request: <T>(message: Record<string, unknown>) =>
      new Promise<T>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve as (value: unknown) => void);
        child.send({ ...message, id });
      }),
  };
}

const cpuMs = async (e: Emulator) => {
  const { user, system } = await e.request<NodeJS.CpuUsage>({ type: 'cpu' });
  return (user + system) / 1000;
};

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send({ type: 'close' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** The child's first IPC message (its `ready`); rejects if it exits first. */
function firstMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const exit = (code: number | null) => reject(new Error(`throughput: ${what} exited (${code}) before it was ready`));
    child.once('exit', exit);
    child.once('message', (m: T) => {
      child.off('exit', exit);
      resolve(m);
    });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

interface RunResult {
  instances: number;
  producerMs: number;
  producerCpuMs: number;
  producerSqsCpuMs: number;
  drainMs: number;
  instanceCpuMs: number;
  handlerCpuMs: number;
  /** This process's CPU during the drain: the pollers (receive, the event, delete). */
  pollerCpuMs: number;
  emptyReceives: number;
  sqsCpuMs: number;
  sesCpuMs: number;
  lost: number;
  duplicates: number;
  deadLettered: number;
  itemFailures: number;
  invocationErrors: number;
  e2e: number[];
  wait: number[];
  service: number[];
  reports: InstanceReport[];
  /** Warning and error lines the instances logged, and the first few of them. */
  problems: { count: number; first: string[] };
}

export async function run(): Promise<BenchSection> {
  const load0 = loadavg()[0]!;
  const [sqs, ses] = await Promise.all([startEmulator('sqs'), startEmulator('ses')]);
  const instances: ChildProcess[] = [];
  const client = new SQSClient({ region: REGION, endpoint: sqs.url, credentials: CREDENTIALS });
  try {
    const { QueueUrl: dlqUrl } = await client.send(new CreateQueueCommand({ QueueName: 'mailroute-bench-dlq' }));
    const results: RunResult[] = [];
    for (const n of INSTANCES) {
      process.stderr.write(`bench: throughput, ${n} instance(s)...\n`);
      results.push(await drain(n, dlqUrl!));
    }
    return {
      title: 'Throughput at scale: producer, SQS, 1 to 8 queue-handler instances, SES',
      markdown: report(results, load0),
      summary: summaryRows(results),
    };
  } finally {
    client.destroy();
    for (const child of instances) child.kill('SIGKILL');
    await Promise.all([stop(sqs.child), stop(ses.child)]);
  }

  async function dlqDepth(url: string): Promise<number> {
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  /** One measure: a fresh queue, the burst enqueued, then `n` instances drain it. */
  async function drain(n: number, dlqUrl: string): Promise<RunResult> {
    const name = `mailroute-bench-send-${n}`;
    const { QueueUrl: queueUrl } = await client.send(
      new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: String(VISIBILITY_TIMEOUT_S) } }),
    );
    const prefix = `tp${n}-`;
    const problems = { count: 0, first: [] as string[] };
    const dlqBefore = await dlqDepth(dlqUrl);

    // The instances: cold start and warm-up batches before anything is measured.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_LAMBDA_FUNCTION_NAME: 'mailroute-queue',
      MAILROUTE_CONFIG: JSON.stringify({
        providers: [{ name: 'ses', provider: 'ses', mode: 'api', region: REGION, endpoint: ses.url }],
      }),
      MAILROUTE_DLQ_URL: dlqUrl,
      MAILROUTE_CONCURRENCY: String(BATCH_CONCURRENCY),
      // No DNS lookups from the bench machine; the check runs once per cold start, outside the measure anyway.
      MAILROUTE_DNS_CHECK: 'off',
    };
    delete env.POWERTOOLS_LOG_LEVEL;
    delete env.POWERTOOLS_METRICS_DISABLED;
    const children = Array.from({ length: n }, (_, index) => {
      const args = { queueArn: `arn:aws:sqs:${REGION}:000000000000:${name}`, index };
      // Powertools' JSON log lines and EMF metrics go to stdout, as in Lambda; written, not kept.
      const child = fork(`${WORKERS}throughput-instance.ts`, [JSON.stringify(args)], {
        env,
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      });
      // Read, not kept: only the warnings and errors are counted, the first few quoted in the report (what went
      // wrong in a run that lost or retried messages); all of it appended to BENCH_THROUGHPUT_LOG when set.
      const log = INSTANCE_LOG ? createWriteStream(INSTANCE_LOG, { flags: 'a' }) : undefined;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        log?.write(`${line}\n`);
        if (!/"level":"(WARN|ERROR)"/.test(line)) return;
        problems.count++;
        if (problems.first.length < 3) problems.first.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      });
      instances.push(child);
      return child;
    });
    await Promise.all(children.map((c, i) => firstMessage(c, `instance ${i}`)));

    // The producer: the project's client, one SendMessage per message, PRODUCER_IN_FLIGHT at once.
    const producer = createSqsProducer({ queueUrl: queueUrl!, client });
    const enqueuedAt = new Array<number>(MESSAGES);
    const messageIds = new Array<string>(MESSAGES);
    let next = 0;
    const sqsCpu0 = await cpuMs(sqs);
    const cpu0 = process.cpuUsage();
    const p0 = performance.now();
    await Promise.all(
      Array.from({ length: PRODUCER_IN_FLIGHT }, async () => {
        while (next < MESSAGES) {
          const i = next++;
          const { messageId } = await producer.enqueue({
            from: 'Billing <billing@example.com>',
            to: `user${i}@example.net`,
            subject: `${prefix}${i}`,
            text: `Hello user ${i},\n\nyour invoice is ready.\n`,
            html: `<p>Hello user ${i},</p><p>your invoice is ready.</p>`,
          });
          enqueuedAt[i] = Date.now();
          messageIds[i] = messageId;
        }
      }),
    );
    const producerMs = performance.now() - p0;
    const producerCpu = process.cpuUsage(cpu0);
    const sqsCpu1 = await cpuMs(sqs);

    // The drain: a poller per instance, in this process, until every message was sent and deleted.
    const sesCpu1 = await cpuMs(ses);
    const reports = children.map(
      (c, i) =>
        new Promise<InstanceReport>((resolve, reject) => {
          c.on('message', (m: { type: string; report: InstanceReport }) => m.type === 'done' && resolve(m.report));
          c.once('exit', (code) => reject(new Error(`throughput: instance ${i} exited (${code}) before its report`)));
        }),
    );
    // An instance that dies mid-drain fails the run at once rather than at the timeout.
    let died: Error | undefined;
    for (const r of reports) r.catch((error: Error) => (died ??= error));
    for (const c of children) c.send({ type: 'go' });
    const pollerCpu0 = process.cpuUsage();
    const go = Date.now();
    const polled = await poll(children, queueUrl!, messageIds, () => died);
    const pollerCpu = process.cpuUsage(pollerCpu0);
    for (const c of children) c.send({ type: 'stop' });
    const done = await Promise.all(reports);
    const [sqsCpu2, sesCpu2] = await Promise.all([cpuMs(sqs), cpuMs(ses)]);
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));

    // Delivered exactly once? aws-ses-v2-local's store, counted by subject; the store times by the emulator.
    const store = (await (await fetch(`${ses.url}/store`)).json()) as SesStore;
    const copies = new Map<string, number>();
    for (const email of store.emails) {
      if (email.subject.startsWith(prefix)) copies.set(email.subject, (copies.get(email.subject) ?? 0) + 1);
    }
    let lost = 0;
    let duplicates = 0;
    for (let i = 0; i < MESSAGES; i++) {
      const c = copies.get(`${prefix}${i}`) ?? 0;
      if (c === 0) lost++;
      duplicates += Math.max(0, c - 1);
    }
    const stored = new Map(await ses.request<[string, number[]][]>({ type: 'stored', prefix }));
    const received = polled.received;
    const e2e: number[] = [];
    const wait: number[] = [];
    const service: number[] = [];
    let last = go;
    for (let i = 0; i < MESSAGES; i++) {
      const at = stored.get(`${prefix}${i}`)?.[0];
      const got = received.get(messageIds[i]!);
      if (at === undefined || got === undefined) continue;
      last = Math.max(last, at);
      e2e.push(at - enqueuedAt[i]!);
      wait.push(got - enqueuedAt[i]!);
      service.push(at - got);
    }
    return {
      instances: n,
      producerMs,
      producerCpuMs: (producerCpu.user + producerCpu.system) / 1000,
      producerSqsCpuMs: sqsCpu1 - sqsCpu0,
      drainMs: last - go,
      instanceCpuMs: done.reduce((s, r) => s + r.cpuUs / 1000, 0),
      handlerCpuMs: done.reduce((s, r) => s + r.handlerCpuUs / 1000, 0),
      pollerCpuMs: (pollerCpu.user + pollerCpu.system) / 1000,
      emptyReceives: polled.emptyReceives,
      sqsCpuMs: sqsCpu2 - sqsCpu1,
      sesCpuMs: sesCpu2 - sesCpu1,
      lost,
      duplicates,
      // The dead-letter queue is shared by the runs: this run's share.
      deadLettered: (await dlqDepth(dlqUrl)) - dlqBefore,
      problems,
      itemFailures: done.reduce((s, r) => s + r.itemFailures, 0),
      invocationErrors: done.reduce((s, r) => s + r.invocationErrors, 0),
      e2e,
      wait,
      service,
      reports: done,
    };
  }

  /**
   * What the event source mapping does for `children.length` concurrent invocations, one loop per instance: receive
   * up to 10 messages, build the SQS event, invoke the instance (over IPC, as the runtime API hands it the event),
   * then delete the records not named in `batchItemFailures`. As the mapping does, the next batch is received while
   * the instance runs this one and the deletes go on behind it, so neither is on the instance's path. Resolves when
   * every message of the burst was deleted once.
   */
  async function poll(
    children: ChildProcess[],
    queueUrl: string,
    messageIds: string[],
    died: () => Error | undefined,
  ): Promise<{ received: Map<string, number>; emptyReceives: number }> {
    const received = new Map<string, number>();
    const wanted = new Set(messageIds);
    const deleted = new Set<string>();
    let emptyReceives = 0;
    let allDeleted!: () => void;
    const finished = new Promise<void>((resolve) => (allDeleted = resolve));
    let stopping = false;
    const answers = new Map<number, (answer: InvokeAnswer) => void>();
    let nextId = 0;
    for (const child of children) {
      child.on('message', (m: InvokeAnswer) => {
        if (m.type !== 'answer') return;
        answers.get(m.id)?.(m);
        answers.delete(m.id);
      });
    }
    const invoke = (child: ChildProcess, records: InvokeRequest['records']) =>
      new Promise<InvokeAnswer>((resolve) => {
        const id = nextId++;
        answers.set(id, resolve);
        child.send({ type: 'invoke', id, records } satisfies InvokeRequest);
      });
    const receive = () =>
      client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: BATCH_SIZE,
          WaitTimeSeconds: 20,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
    const remove = async (batch: Message[]) => {
      // The mapping deletes with DeleteMessageBatch; the emulator has DeleteMessage only, so one call per record.
      await Promise.all(
        batch.map((m) => client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }))),
      );
      for (const m of batch) if (wanted.has(m.MessageId!)) deleted.add(m.MessageId!);
      if (deleted.size === wanted.size) allDeleted();
    };
    const pending = new Set<Promise<void>>();
    // A poller that failed (an SQS call refused) fails the run at once.
    let failed: Error | undefined;
    const loop = async (child: ChildProcess) => {
      let next = receive();
      while (!stopping) {
        const { Messages = [] } = await next;
        if (!Messages.length) {
          emptyReceives++;
          await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
          next = receive();
          continue;
        }
        next = receive();
        // When the instance was handed the record: "in queue" ends and "receive → SES" (the handler's part) starts.
        const at = Date.now();
        for (const m of Messages) if (!received.has(m.MessageId!)) received.set(m.MessageId!, at);
        const { retry } = await invoke(
          child,
          Messages.map((m) => toRecord(m, `arn:aws:sqs:${REGION}:000000000000:${queueUrl.split('/').pop()}`, REGION)),
        );
        // A failed invocation: the mapping deletes nothing, and the batch is visible again after the timeout.
        if (retry === null) continue;
        const again = new Set(retry);
        const removing: Promise<void> = remove(Messages.filter((m) => !again.has(m.MessageId!)))
          .catch((error: Error) => {
            failed ??= error;
          })
          .finally(() => pending.delete(removing));
        pending.add(removing);
      }
      // The receive made ahead when the burst was done: empty, or its messages would be counted as lost.
      const { Messages: left = [] } = await next;
      if (left.length) throw new Error(`throughput: ${left.length} messages received after the last was deleted`);
    };
    const loops = children.map((child) => loop(child));
    for (const l of loops) l.catch((error: Error) => (failed ??= error));
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    while (deleted.size < wanted.size) {
      await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 100))]);
      const error = died() ?? failed;
      if (error) throw error;
      if (Date.now() > deadline) throw new Error(`throughput: ${children.length} instances did not drain the queue`);
    }
    stopping = true;
    await Promise.all([...loops, ...pending]);
    return { received, emptyReceives };
  }
}

const perInstanceIdeal = (BATCH_CONCURRENCY * 1000) / LATENCY_MS;

/** A run's rate against its ideal (latency-bound) and against the CPU this machine has. */
function measure(r: RunResult) {
  const cores = cpus().length;
  const rate = (MESSAGES / r.drainMs) * 1000;
  const ideal = r.instances * perInstanceIdeal;
  const totalCpu = r.instanceCpuMs + r.pollerCpuMs + r.sqsCpuMs + r.sesCpuMs;
  const ceiling = (cores * 1000 * MESSAGES) / totalCpu;
  return { rate, ideal, totalCpu, ceiling, coresUsed: totalCpu / r.drainMs, bound: rate / Math.min(ideal, ceiling) };
}

/** The section's goals, as rows of the summary table (the same figures as its "Goals" list). */
function summaryRows(results: RunResult[]): SummaryRow[] {
  const first = results[0]!;
  const lastRun = results[results.length - 1]!;
  const growth = lastRun.handlerCpuMs / first.handlerCpuMs;
  const rows: SummaryRow[] = [];
  for (const r of results) {
    const x = measure(r);
    const efficiency = x.rate / x.ideal;
    const n = `${r.instances} instance${r.instances > 1 ? 's' : ''}`;
    rows.push(
      r.instances === 1
        ? {
            measure: `Throughput, ${n}: efficiency, msg/s / ideal`,
            goal: '≥ 0.8',
            now: `${fmt(efficiency, 2)} (${fmt(x.rate)} / ${fmt(x.ideal)} msg/s)`,
            met: efficiency >= 0.8,
          }
        : {
            measure: `Throughput, ${n}: efficiency, msg/s / ideal`,
            goal: 'none set (reported)',
            now: `${fmt(efficiency, 2)} (${fmt(x.rate)} / ${fmt(x.ideal)} msg/s)`,
          },
    );
    if (r.instances > 1) {
      rows.push({
        measure: `Throughput, ${n}: msg/s / min(ideal, CPU ceiling)`,
        goal: '≥ 0.8',
        now: `${fmt(x.bound, 2)} (CPU ceiling ${fmt(x.ceiling)} msg/s)`,
        met: x.bound >= 0.8,
      });
    }
  }
  rows.push(
    {
      measure: `Throughput: handler CPU per message at ${lastRun.instances} instances / at ${first.instances}`,
      goal: '≤ 1.25×',
      now: `${fmt(growth, 2)}× (${fmt(first.handlerCpuMs / MESSAGES, 2)} → ${fmt(lastRun.handlerCpuMs / MESSAGES, 2)} ms)`,
      met: growth <= 1.25,
    },
    {
      measure: `Throughput: every message delivered exactly once (${fmt(MESSAGES)} per run; lost / duplicates at N = ${results.map((r) => r.instances).join(', ')})`,
      goal: '0 / 0 at every N',
      now: results.map((r) => `${r.lost} / ${r.duplicates}`).join('; '),
      met: results.every((r) => r.lost === 0 && r.duplicates === 0),
    },
  );
  return rows;
}

function report(results: RunResult[], load0: number): string {
  const cores = cpus().length;
  const perMsg = (ms: number) => fmt(ms / MESSAGES, 2);
  const pp = (v: number[]) => `${fmt(percentile(v, 50))} / ${fmt(percentile(v, 99))}`;
  const first = results[0]!;
  const lastRun = results[results.length - 1]!;
  const one = measure(first);
  const growth = lastRun.handlerCpuMs / first.handlerCpuMs;
  const exact = results.every((r) => r.lost === 0 && r.duplicates === 0);
  const scaled = results.slice(1).map((r) => ({ n: r.instances, ratio: measure(r).bound }));
  const handlerPerMsg = first.handlerCpuMs / MESSAGES;
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const used = results.map((r) => measure(r).coresUsed);
  const atCeiling = results.filter((r) => measure(r).rate >= 0.9 * measure(r).ceiling).map((r) => r.instances);
  // One instance runs one invocation at a time: a batch's CPU in the instance is on its path beside the latency
  // (the poller's receive and deletes are not: they overlap the invocations).
  const batchCpu = (BATCH_SIZE * first.instanceCpuMs) / MESSAGES;
  const sequential = (BATCH_SIZE * 1000) / (LATENCY_MS + batchCpu);
  const handlerBatch = BATCH_SIZE * handlerPerMsg;
  const lambdaInstance = (BATCH_SIZE * 1000) / (LATENCY_MS + handlerBatch / 0.29);
  return [
    `${fmt(MESSAGES)} messages (text + html, SES Simple content) per run. The producer (\`createSqsProducer\`, one`,
    `SendMessage per message: the client has no batch send; ${PRODUCER_IN_FLIGHT} in flight, as a service sending a burst would)`,
    'fills a fresh queue on the SQS emulator; then N instances drain it. Each instance is its own Node process, as',
    'each Lambda instance is: one mailer, one SES client, the real `functions/aws/queue.ts` handler (middy, Powertools',
    'logs at their default level and EMF metrics, written to stdout, here /dev/null), cold start and five warm-up',
    'batches outside the measure. It is invoked over IPC, one event at a time, as the Lambda runtime API hands an',
    'instance its events. The poller, in the bench process, does per instance what the event source mapping does:',
    `ReceiveMessage (${BATCH_SIZE} at most), the SQS event built from it, one invocation, then DeleteMessage for every record`,
    'not in `batchItemFailures` (the mapping uses DeleteMessageBatch, which the emulator does not have); as the mapping',
    'does, it receives the next batch while the instance runs this one and deletes behind it, so neither is on the',
    "instance's path. The SES emulator (aws-ses-v2-local behind the",
    `project's fault proxy) adds ${LATENCY_MS} ms to every SendEmail and nothing to other calls. State store: in memory, one per`,
    'instance (the deployment uses DynamoDB: its conditional writes per message are not in these figures). The SQS',
    'and SES emulators run in a process each. msg/s is the burst over the time from the start signal to the last',
    'message stored by SES.',
    '',
    `Batch concurrency: \`runBatch\` (core/runtime/invocation.ts) sends \`MAILROUTE_CONCURRENCY\` records of a batch at once,`,
    `default ${BATCH_CONCURRENCY}; batches hold ${BATCH_SIZE}, so an instance has at most ${BATCH_CONCURRENCY} sends in flight. Ideal = N × ${BATCH_CONCURRENCY} / ${LATENCY_MS / 1000} s =`,
    `N × ${fmt(perInstanceIdeal)} msg/s. CPU is charged per message: "handler" is the CPU of the invocations alone (what a Lambda`,
    'instance pays; the rest of the instance process, the IPC and its idle time, is in the CPU ceiling, not in this',
    'column), "poller" the bench process during the drain (receives, events, deletes: the event source mapping, which',
    `runs outside Lambda), "emulators" the SQS and SES processes. CPU ceiling = ${cores} cores / all of it: the rate this machine could`,
    'carry with both cores to the pipeline alone. "Cores used" = all of it / the drain time, so msg/s = cores used ×',
    '1000 / CPU ms per message, exactly.',
    '',
    '| instances | msg/s | ideal | efficiency | CPU ceiling | handler CPU ms/msg | poller CPU ms/msg | emulators CPU ms/msg | cores used | e2e p50 / p99 ms | in queue p50 / p99 ms | receive → SES p50 / p99 ms | lost / duplicates |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => {
      const x = measure(r);
      return `| ${r.instances} | ${fmt(x.rate)} | ${fmt(x.ideal)} | **${fmt(x.rate / x.ideal, 2)}** | ${fmt(x.ceiling)} | ${perMsg(r.handlerCpuMs)} | ${perMsg(r.pollerCpuMs)} | ${perMsg(r.sqsCpuMs + r.sesCpuMs)} (SQS ${perMsg(r.sqsCpuMs)}, SES ${perMsg(r.sesCpuMs)}) | ${fmt(x.coresUsed, 2)} | ${pp(r.e2e)} | ${pp(r.wait)} | ${pp(r.service)} | ${r.lost} / ${r.duplicates} |`;
    }),
    '',
    'Per run: records per instance (min–max), batches, empty receives, max RSS per instance, records retried and',
    "dead-lettered, and the producer, measured alone before the drain (rate, its CPU and the SQS emulator's per message):",
    ...results.map((r) => {
      const recs = r.reports.map((x) => x.records);
      const rss = Math.max(...r.reports.map((x) => x.maxRssMb));
      const empty = r.emptyReceives;
      const batches = r.reports.reduce((s, x) => s + x.batches, 0);
      return `- ${r.instances}: ${fmt(Math.min(...recs))}–${fmt(Math.max(...recs))} records, ${fmt(batches)} batches, ${fmt(empty)} empty receives, max RSS ${fmt(rss)} MB; ${r.itemFailures} retried, ${r.invocationErrors} failed invocations, ${r.deadLettered} dead-lettered; producer ${fmt((MESSAGES / r.producerMs) * 1000)} msg/s (${fmt(r.producerMs / 1000, 1)} s), ${perMsg(r.producerCpuMs)} ms CPU/msg, SQS emulator ${perMsg(r.producerSqsCpuMs)} ms/msg; ${r.problems.count} warning or error lines logged${r.problems.first.length ? `, the first: ${r.problems.first.map((l) => `\`${l.replaceAll('`', "'")}\``).join('; ')}` : ''}`;
    }),
    '',
    'Goals:',
    `- Every message delivered exactly once (SES store counted by subject; lost = duplicates = 0 at every N): **${verdict(exact)}**.`,
    `- One instance reaches ≥ 0.8 of its ideal: **${fmt(one.rate / one.ideal, 2)}**, ${verdict(one.rate / one.ideal >= 0.8)}.`,
    `- Handler CPU per message at ${lastRun.instances} instances ≤ 1.25 × at 1 (separate processes do the same work per message; growth is contention): **${fmt(growth, 2)} ×**, ${verdict(growth <= 1.25)}.`,
    `- From 2 instances on, msg/s ≥ 0.8 × min(ideal, CPU ceiling): ${scaled.map((x) => `${x.n}: **${fmt(x.ratio, 2)}**`).join(', ')}, ${verdict(scaled.every((x) => x.ratio >= 0.8))}.`,
    '',
    `What limits it here. msg/s = cores used × 1000 / CPU ms per message (all processes), and the pipeline got only`,
    `${fmt(Math.min(...used), 2)} to ${fmt(Math.max(...used), 2)} of the ${cores} cores: everything here (producer, emulators, instances) shares them with other`,
    `jobs (load average ${fmt(load0, 1)} when this run began), so ${atCeiling.length ? `only the run${atCeiling.length > 1 ? 's' : ''} with ${atCeiling.join(', ')} instance(s) came within 10 % of` : 'no run came within 10 % of'} the CPU ceiling, which`,
    'assumes both cores free. Every message costs CPU in four places: the handler (the SES SDK call and its SigV4',
    'signature, validation, routing, the log and metric lines), the poller (the SQS receive and one delete per record,',
    "through the AWS SDK), and both emulators (HTTP, JSON, aws-ses-v2-local's Express and zod, the SQS emulator's MD5s).",
    `One instance is not purely latency-bound either: the CPU of a batch in the instance (${fmt(batchCpu, 1)} ms for 10 records at`,
    `one instance) sits on its path beside the ${LATENCY_MS} ms, so an instance, one invocation at a time, can do at most 10 / (${LATENCY_MS} ms + ${fmt(batchCpu, 1)} ms) =`,
    `${fmt(sequential)} msg/s with a core to itself; it reached ${fmt(one.rate / sequential, 2)} of that. More instances take more of the machine, but`,
    `${growth > 1.1 ? `each message then costs more CPU (handler ×${fmt(growth, 2)} from 1 to ${lastRun.instances} instances: ${cores} cores time-sliced between more processes)` : `the CPU per message stays about the same (handler ×${fmt(growth, 2)} from 1 to ${lastRun.instances} instances)`}`,
    `and sends wait for a core rather than for SES ("receive → SES" p50 ${fmt(percentile(first.service, 50))} ms at 1, ${fmt(percentile(lastRun.service, 50))} ms at ${lastRun.instances}), so the`,
    'efficiency falls with N. In Lambda each instance has its own CPU and SES its own fleet: read the efficiency at',
    "N ≥ 2 as this machine's limit, not the handler's. The figure that carries over is the handler's CPU per message.",
    "Lambda gives CPU in proportion to memory (one vCPU at 1,769 MB): at the deployment's 512 MB (about 0.29 vCPU), a",
    `batch's ${fmt(handlerBatch, 1)} ms of handler CPU would take about ${fmt(handlerBatch / 0.29)} ms, so one instance would send about 10 / (${LATENCY_MS} ms +`,
    `${fmt(handlerBatch / 0.29)} ms) = ${fmt(lambdaInstance)} msg/s rather than ${fmt(perInstanceIdeal)} (measured on this machine's x86 cores, not Graviton: an order of`,
    'magnitude for sizing `maximumConcurrency`, not a forecast). "e2e" runs from the producer\'s enqueue to SES storing',
    'the message: the whole burst is enqueued before the instances start, so it is mostly time in the queue (the rest',
    'of the burst, then the drain ahead of it); "receive → SES" runs from the event handed to the instance: the handler\'s part.',
  ].join('\n');
}
