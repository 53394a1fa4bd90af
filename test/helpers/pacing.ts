import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAzurite } from './azurite.ts';
import { startDynalite } from './dynalite.ts';
import { startRedis } from './redis.ts';

const SCRIPT = fileURLToPath(new URL('./pacing-process.ts', import.meta.url));

/** A real state store that sender processes share over loopback: its `store` configuration and the env it needs. */
export interface SharedStore {
  name: string;
  store: Record<string, unknown>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startSharedDynamoDb(): Promise<SharedStore> {
  const [{ DynamoDBClient }, { createDynamoDbTable }] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('../../stores/dynamodb.ts'),
  ]);
  const dynalite = await startDynalite();
  const client = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: dynalite.region,
    credentials: dynalite.credentials,
  });
  const tableName = `mailroute-${randomUUID()}`;
  await createDynamoDbTable(client, tableName, { timeToLive: false });
  client.destroy();
  return {
    name: 'DynamoDB (dynalite)',
    store: { type: 'dynamodb', tableName, region: dynalite.region, endpoint: dynalite.endpoint },
    env: { AWS_ACCESS_KEY_ID: 'dynalite', AWS_SECRET_ACCESS_KEY: 'dynalite', AWS_REGION: dynalite.region },
    stop: dynalite.stop,
  };
}

export async function startSharedAzureTable(): Promise<SharedStore> {
  const { TableClient } = await import('@azure/data-tables');
  const azurite = await startAzurite();
  const tableName = `mailroute${randomUUID().replaceAll('-', '')}`.slice(0, 40);
  await TableClient.fromConnectionString(azurite.connectionString, tableName, {
    allowInsecureConnection: true,
  }).createTable();
  return {
    name: 'Azure Table (Azurite)',
    store: { type: 'azure-table', tableName, connectionString: { env: 'MR_STORE_CONNECTION' } },
    env: { MR_STORE_CONNECTION: azurite.connectionString },
    stop: azurite.stop,
  };
}

export async function startSharedRedis(): Promise<SharedStore> {
  const redis = await startRedis();
  return {
    name: 'Redis (redis-server)',
    store: { type: 'redis', url: { env: 'MR_STORE_URL' }, keyPrefix: `mr-${randomUUID()}:` },
    env: { MR_STORE_URL: redis.url },
    stop: redis.stop,
  };
}

export interface PacingOptions {
  /** Sender processes sharing the store. */
  instances: number;
  /** Sends each process keeps in flight. */
  concurrency: number;
  /** How long each process keeps sending after the common start. */
  durationMs: number;
  /** The provider entry's rate limits. */
  rateLimits: Record<string, unknown>[];
}

export interface PacedInstance {
  /** What the process said it sent, and the errors it met, by code. */
  sent: number;
  errors: Record<string, number>;
  /**
   * The slot the shared store granted each send, as the store answered: [send number, slot, when the answer came
   * back] (epoch ms, the machine's one clock).
   */
  slots: [number, number, number][];
  /** The store's refusals of a slot within the wait asked for: [that wait, the retry-after it answered], ms. */
  refusals: [number, number][];
  /** Each message the provider took: its send number and when it took it (the outbox summary's `receivedAt`). */
  deliveries: { n: number; at: number }[];
  /** When the provider took each message, epoch ms: `deliveries`' times. */
  times: number[];
  /** Its JSON log lines (stderr). */
  log: string;
}

type PacingResult = Pick<PacedInstance, 'sent' | 'errors' | 'slots' | 'refusals'>;

/**
 * Starts `instances` sender processes on one shared store, each pacing the same `local` API provider (writing
 * its own outbox) and sending as fast as the limiter lets it; they start together once all are ready.
 */
export async function runPacedInstances(shared: SharedStore, options: PacingOptions): Promise<PacedInstance[]> {
  const root = await mkdtemp(join(tmpdir(), 'mailroute-pacing-'));
  const children: ChildProcess[] = [];
  try {
    const runs = Array.from({ length: options.instances }, (_, i) => {
      const outboxDir = join(root, `instance-${i}`);
      const spec = {
        config: {
          providers: [
            { name: 'paced', provider: 'local', mode: 'api', rateLimits: options.rateLimits },
            { name: 'warmup', provider: 'local', mode: 'api', outboxDir: join(root, `warmup-${i}`) },
          ],
          outboxDir,
          store: shared.store,
        },
        concurrency: options.concurrency,
        durationMs: options.durationMs,
        label: `instance-${i}`,
      };
      const child = spawn(process.execPath, [SCRIPT], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...shared.env,
          MR_PACING_SPEC: JSON.stringify(spec),
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      let onReady: () => void = () => {};
      const ready = new Promise<void>((resolve) => {
        onReady = resolve;
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        if (stdout.includes('{"ready":true}')) onReady();
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const exited = new Promise<PacingResult>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) => {
          const last = stdout.trim().split('\n').at(-1);
          if (code !== 0 || !last) {
            reject(new Error(`pacing process exited with ${code ?? signal}: ${stdout}\n${stderr.slice(-4000)}`));
          } else {
            resolve(JSON.parse(last) as PacingResult);
          }
        });
      });
      // A process that dies before it is ready must fail the run, not hang it.
      return { child, outboxDir, ready: Promise.race([ready, exited.then(() => {})]), exited, log: () => stderr };
    });
    await Promise.all(runs.map((run) => run.ready));
    const startAt = Date.now() + 200;
    for (const run of runs) run.child.stdin!.end(`${startAt}\n`);
    const results = await Promise.all(runs.map((run) => run.exited));
    return await Promise.all(
      runs.map(async (run, i) => {
        const deliveries = await outboxDeliveries(run.outboxDir);
        return { ...results[i]!, deliveries, times: deliveries.map((d) => d.at), log: run.log() };
      }),
    );
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
}

async function outboxDeliveries(dir: string): Promise<{ n: number; at: number }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const summaries = names.filter((name) => name.endsWith('.json'));
  return Promise.all(
    summaries.map(async (name) => {
      const summary = JSON.parse(await readFile(join(dir, name), 'utf8')) as { receivedAt: string; subject?: string };
      // The subject is "<label> <send number>".
      return { n: Number(summary.subject?.split(' ').at(-1)), at: Date.parse(summary.receivedAt) };
    }),
  );
}

/** Sends per consecutive window of `windowMs`, the first starting at the first send: `count` windows. */
export function sendsPerWindow(times: number[], windowMs: number, count: number): number[] {
  const start = Math.min(...times);
  const windows = Array<number>(count).fill(0);
  for (const time of times) {
    const index = Math.floor((time - start) / windowMs);
    if (index < count) windows[index]! += 1;
  }
  return windows;
}

/** The most sends in any window of `windowMs` starting at a send (a sliding window), within the first `spanMs`. */
export function busiestWindow(times: number[], windowMs: number, spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  const end = sorted[0]! + spanMs;
  let most = 0;
  let j = 0;
  for (let i = 0; i < sorted.length && sorted[i]! < end; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}
