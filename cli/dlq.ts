import { parseArgs } from 'node:util';
import { isMailrouteError } from '../core/errors.ts';
import type { AdapterOptions, DeadLetter, DlqAdapter } from './dlq/adapter.ts';
import { Progress, type ProgressOutput, type Tally } from './dlq/progress.ts';

export const DLQ_HELP = `Usage:
  mailroute dlq list   --from QUEUE [--max 100] [--json] [cloud options]
  mailroute dlq replay --from QUEUE --to QUEUE [--dry-run] [--include-ambiguous] [--max N] [--lease 120] [--json] [cloud options]

Lists the dead letters the queue functions set aside, or puts them back on the send queue through mailroute's
producer (the same validation and FIFO message group as any enqueue; on SQS FIFO a deduplication id of the
replay's own, so the queue does not drop it as the original). Each message is removed from the dead-letter queue
only after the send queue took it; one that could not be enqueued stays (counted as failed).
Messages whose errorCode is AMBIGUOUS (the provider may have delivered them) are left alone unless
--include-ambiguous: replaying one may deliver it twice.

QUEUE, by cloud:
  sqs:https://sqs.REGION.amazonaws.com/ACCOUNT/NAME  (or the queue URL alone); an S3-offloaded body is read
                                      only from MAILROUTE_PAYLOAD_BUCKET under MAILROUTE_PAYLOAD_PREFIX,
                                      owned by MAILROUTE_PAYLOAD_BUCKET_OWNER (the function's settings)
  azure:NAME                          connection string in AZURE_STORAGE_CONNECTION_STRING
                                      (--connection-string-env VAR to read another variable);
                                      a NAME-poison queue replays to NAME unless --to says otherwise
  pubsub:projects/P/subscriptions/S   --from: a subscription of the failed (or dead-letter) topic
  pubsub:projects/P/topics/T          --to: the send topic
  oci:OCID                            with --endpoint URL (the queue's messages endpoint),
                                      --to-endpoint URL when the send queue's differs, --channel ID

Options:
  --dry-run                 show what replay would do; nothing is enqueued, removed or changed
  --include-ambiguous       replay AMBIGUOUS dead letters too
  --max N                   take at most N messages (list: 100 unless given)
  --lease SECONDS           how long a taken message stays invisible to other readers (default 120)
  --endpoint URL            the service's endpoint (an emulator). Without it SQS follows AWS_ENDPOINT_URL_SQS
                            (else the queue URL's host), Pub/Sub MAILROUTE_PUBSUB_API_ROOT or PUBSUB_EMULATOR_HOST
  --json                    one JSON document instead of a table or lines

A terminal gets a progress bar; a pipe or file gets one line per message. Both end with a summary.
Exit status: 0 done, 1 some message failed (or the queue could not be read), 2 wrong usage.`;

type Out = (line: string) => void;
type Cloud = 'sqs' | 'azure' | 'pubsub' | 'oci';

/** Where output goes and what the command reads; tests give their own. */
export interface DlqIo extends Partial<ProgressOutput> {
  env?: NodeJS.ProcessEnv;
}

/** Each cloud's adapter, loaded only when a command names that cloud (each pulls in its SDK). */
const ADAPTERS: Record<Cloud, () => Promise<{ createAdapter(options: AdapterOptions): DlqAdapter }>> = {
  sqs: () => import('./dlq/sqs.ts'),
  azure: () => import('./dlq/azure.ts'),
  pubsub: () => import('./dlq/pubsub.ts'),
  oci: () => import('./dlq/oci.ts'),
};

const DEFAULT_LEASE_SECONDS = 120;
const DEFAULT_LIST_MAX = 100;

class UsageError extends Error {}

const usageLine = (message: string) => JSON.stringify({ ok: false, error: { code: 'USAGE', message } });

/** `mailroute dlq list|replay`: 0 done, 1 a message failed or a queue could not be used, 2 wrong usage. */
export async function dlqCommand(args: string[], out: Out, io: DlqIo = {}): Promise<number> {
  const [sub, ...rest] = args;
  if (
    sub === undefined ||
    sub === 'help' ||
    sub === '--help' ||
    sub === '-h' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    out(DLQ_HELP);
    return sub === undefined ? 2 : 0;
  }
  let request: Request;
  try {
    if (sub !== 'list' && sub !== 'replay') throw new UsageError(`unknown dlq command "${sub}": use list or replay`);
    request = parseRequest(sub, rest);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      out(usageLine((error as Error).message));
      return 2;
    }
    throw error;
  }
  const env = io.env ?? process.env;
  const output: ProgressOutput = {
    tty: io.tty ?? process.stdout.isTTY === true,
    write: io.write ?? ((text) => process.stdout.write(text)),
    // 0 when the terminal does not say (script, some CI terminals).
    columns: io.columns ?? (process.stdout.columns || 80),
  };
  let adapter: DlqAdapter;
  try {
    const { createAdapter } = await ADAPTERS[request.cloud]();
    adapter = createAdapter({ ...request.adapter, env });
  } catch (error) {
    return failed(error, out);
  }
  try {
    return request.sub === 'list' ? await list(adapter, request, out) : await replay(adapter, request, out, output);
  } catch (error) {
    return failed(error, out);
  } finally {
    await adapter.close().catch(() => {});
  }
}

/** A queue or setup error, in the shape every mailroute command prints (`ok: false` and the error's JSON). */
function failed(error: unknown, out: Out): number {
  if (!isMailrouteError(error)) throw error;
  out(JSON.stringify({ ok: false, error: error.toJSON() }, null, 2));
  return 1;
}

interface Request {
  sub: 'list' | 'replay';
  cloud: Cloud;
  adapter: Omit<AdapterOptions, 'env'>;
  max: number;
  lease: number;
  dryRun: boolean;
  includeAmbiguous: boolean;
  json: boolean;
}

function parseRequest(sub: 'list' | 'replay', args: string[]): Request {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      endpoint: { type: 'string' },
      'to-endpoint': { type: 'string' },
      'connection-string-env': { type: 'string' },
      channel: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'include-ambiguous': { type: 'boolean' },
      max: { type: 'string' },
      lease: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see mailroute dlq --help)`);
  if (!values.from) throw new UsageError(`dlq ${sub} needs --from QUEUE (see mailroute dlq --help)`);
  if (sub === 'list') {
    for (const flag of ['to', 'dry-run', 'include-ambiguous'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with dlq replay, not dlq list`);
    }
  }
  const from = parseQueue(values.from, '--from');
  const to = values.to === undefined ? undefined : parseQueue(values.to, '--to', from.cloud);
  if (to && to.cloud !== from.cloud) {
    throw new UsageError(`--to is on ${to.cloud} and --from on ${from.cloud}: a replay stays on one cloud`);
  }
  if (sub === 'replay' && !to && !(from.cloud === 'azure' && from.name.endsWith('-poison'))) {
    throw new UsageError('dlq replay needs --to QUEUE: the send queue to put the messages back on');
  }
  if (from.cloud === 'pubsub' && !from.name.includes('/subscriptions/')) {
    throw new UsageError(
      '--from on Pub/Sub is a subscription (projects/P/subscriptions/S): a topic keeps nothing to read',
    );
  }
  if (to?.cloud === 'pubsub' && !to.name.includes('/topics/')) {
    throw new UsageError('--to on Pub/Sub is the send topic (projects/P/topics/T)');
  }
  for (const flag of ['endpoint', 'to-endpoint'] as const) {
    const url = values[flag];
    if (url !== undefined && !/^https?:\/\//.test(url))
      throw new UsageError(`--${flag} must be an http(s) URL, not "${url}"`);
  }
  const max =
    values.max === undefined
      ? sub === 'list'
        ? DEFAULT_LIST_MAX
        : Number.POSITIVE_INFINITY
      : whole(values.max, '--max', 1);
  const lease = values.lease === undefined ? DEFAULT_LEASE_SECONDS : whole(values.lease, '--lease', 1);
  return {
    sub,
    cloud: from.cloud,
    adapter: {
      from: from.name,
      ...(to ? { to: to.name } : {}),
      ...(values.endpoint ? { endpoint: values.endpoint } : {}),
      ...(values['to-endpoint'] ? { toEndpoint: values['to-endpoint'] } : {}),
      ...(values['connection-string-env'] ? { connectionStringEnv: values['connection-string-env'] } : {}),
      ...(values.channel ? { channel: values.channel } : {}),
    },
    max,
    lease,
    dryRun: values['dry-run'] === true,
    includeAmbiguous: values['include-ambiguous'] === true,
    json: values.json === true,
  };
}

function whole(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag} must be a whole number, at least ${min}, not "${text}"`);
  return n;
}

/**
 * `cloud:name`, or a name whose form says its cloud (an http(s) URL is SQS, `projects/...` Pub/Sub,
 * `ocid1.queue...` OCI). A bare name for `--to` is on the cloud of `--from` (an Azure queue name).
 */
export function parseQueue(value: string, flag: string, cloudOfFrom?: Cloud): { cloud: Cloud; name: string } {
  const prefixed = /^(sqs|azure|pubsub|oci):(.+)$/.exec(value);
  if (prefixed) return { cloud: prefixed[1] as Cloud, name: prefixed[2]! };
  if (/^https?:\/\//.test(value)) return { cloud: 'sqs', name: value };
  if (/^projects\/[^/]+\/(subscriptions|topics)\/[^/]+$/.test(value)) return { cloud: 'pubsub', name: value };
  if (/^ocid1\.queue\./.test(value)) return { cloud: 'oci', name: value };
  if (cloudOfFrom === 'azure' && /^[a-z0-9-]{3,63}$/.test(value)) return { cloud: 'azure', name: value };
  throw new UsageError(
    `${flag} "${value}" names no queue mailroute knows: use sqs:QUEUE_URL, azure:NAME, pubsub:projects/P/subscriptions/S (or topics/T for --to) or oci:QUEUE_OCID`,
  );
}

/** Whether a dead letter may already have been delivered: replaying it may send it twice. */
export function isAmbiguous(letter: Pick<DeadLetter, 'errorCode' | 'reason'>): boolean {
  return letter.errorCode === 'AMBIGUOUS' || /^ambiguous\b/i.test(letter.reason ?? '');
}

/**
 * Takes up to `max` messages, batch by batch, each leased so no other reader takes it meanwhile, and hands each
 * to `each` once. Stops when the queue gives nothing new (a message seen before whose lease ran out counts as
 * nothing new). Resolves with whether `max` stopped it. `each` puts in `held` what it leaves in the queue; a
 * message taken a second time is put there under its new handle, so the end of the run gives it back.
 */
async function takeAll(
  adapter: DlqAdapter,
  max: number,
  lease: number,
  each: (letter: DeadLetter) => Promise<void>,
  held: Map<string, DeadLetter>,
): Promise<boolean> {
  const seen = new Set<string>();
  while (seen.size < max) {
    const batch = await adapter.receive(Math.min(adapter.maxBatch, max - seen.size), lease);
    const fresh = batch.filter((letter) => !seen.has(letter.id));
    // Taken again after its lease ran out: held under its new handle, so it is given back at the end.
    for (const letter of batch) if (seen.has(letter.id)) held.set(letter.id, letter);
    if (fresh.length === 0) return false;
    for (const letter of fresh) {
      seen.add(letter.id);
      await each(letter);
    }
  }
  return true;
}

/** Gives every held message back to its queue at once (it was only leased), whatever happened meanwhile. */
async function releaseAll(adapter: DlqAdapter, held: Map<string, DeadLetter>): Promise<string[]> {
  const problems: string[] = [];
  for (const letter of held.values()) {
    await adapter.release(letter).catch((error: Error) => {
      problems.push(`${letter.id} stays invisible until its lease ends (${error.message})`);
    });
  }
  return problems;
}

async function list(adapter: DlqAdapter, request: Request, out: Out): Promise<number> {
  const held = new Map<string, DeadLetter>();
  const letters: DeadLetter[] = [];
  let maxReached = false;
  try {
    maxReached = await takeAll(
      adapter,
      request.max,
      Math.min(request.lease, adapter.maxLeaseSeconds),
      async (letter) => {
        letters.push(letter);
        held.set(letter.id, letter);
      },
      held,
    );
  } finally {
    await releaseAll(adapter, held);
  }
  if (request.json) {
    const messages = letters.map((l) => ({
      id: l.id,
      errorCode: l.errorCode ?? null,
      reason: l.reason ?? null,
      firstSeen: l.firstSeen ?? null,
      receiveCount: l.receiveCount ?? null,
      sourceMessageId: l.sourceMessageId ?? null,
      ambiguous: isAmbiguous(l),
      body: l.body,
    }));
    out(JSON.stringify({ ok: true, from: adapter.source, count: letters.length, maxReached, messages }, null, 2));
    return 0;
  }
  if (letters.length === 0) {
    out(`No dead letters in ${adapter.source}.`);
    return 0;
  }
  for (const line of table(letters)) out(line);
  const ambiguous = letters.filter(isAmbiguous).length;
  const more = maxReached ? ` (the first ${request.max}: --max N shows more)` : '';
  const note = ambiguous ? `; ${ambiguous} AMBIGUOUS, left alone by replay unless --include-ambiguous` : '';
  out(`${letters.length} dead letter${letters.length === 1 ? '' : 's'} in ${adapter.source}${more}${note}.`);
  return 0;
}

/** The dead letters as a table: id, error code, reason (cut to fit), first seen, receive count. */
export function table(letters: DeadLetter[]): string[] {
  const cut = (text: string, n: number) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);
  const rows = letters.map((l) => [
    l.id,
    l.errorCode ?? '-',
    cut((l.reason ?? '-').replace(/\s+/g, ' '), 60),
    l.firstSeen ? `${l.firstSeen.slice(0, 19).replace('T', ' ')}Z` : '-',
    l.receiveCount === undefined ? '-' : String(l.receiveCount),
  ]);
  const header = ['ID', 'ERROR CODE', 'REASON', 'FIRST SEEN', 'RECEIVES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

interface Outcome {
  id: string;
  action: 'replayed' | 'skipped' | 'failed' | 'would-replay' | 'would-skip';
  errorCode: string | null;
  newId?: string;
  error?: Record<string, unknown>;
  /** Replayed, but its removal from the dead-letter queue failed: it will be seen there again. */
  notRemoved?: string;
}

async function replay(adapter: DlqAdapter, request: Request, out: Out, output: ProgressOutput): Promise<number> {
  const { dryRun, includeAmbiguous, json } = request;
  const lease = Math.min(request.lease, adapter.maxLeaseSeconds);
  const counted = adapter.count ? await adapter.count().catch(() => undefined) : undefined;
  const total = counted === undefined ? undefined : Math.min(counted, request.max);
  const progress = new Progress(json ? { tty: false, write: () => {} } : output, json ? () => {} : out);
  const tally: Tally = { done: 0, replayed: 0, skipped: 0, failed: 0, dryRun, ...(total ? { total } : {}) };
  const outcomes: Outcome[] = [];
  const held = new Map<string, DeadLetter>();
  const describe = (l: DeadLetter) => `${l.id}${l.errorCode ? ` (${l.errorCode})` : ''}`;
  if (!json) {
    const where = adapter.target ? ` to ${adapter.target}` : '';
    out(`${dryRun ? 'Dry run: nothing will change. ' : ''}Replaying ${adapter.source}${where}.`);
  }
  progress.update(tally);

  const each = async (letter: DeadLetter) => {
    tally.done += 1;
    const errorCode = letter.errorCode ?? null;
    if (isAmbiguous(letter) && !includeAmbiguous) {
      tally.skipped += 1;
      held.set(letter.id, letter);
      outcomes.push({ id: letter.id, action: dryRun ? 'would-skip' : 'skipped', errorCode });
      progress.line(
        `${dryRun ? 'would skip' : 'skipped'} ${describe(letter)}: may have been delivered already (--include-ambiguous replays it)`,
      );
    } else if (dryRun) {
      tally.replayed += 1;
      held.set(letter.id, letter);
      outcomes.push({ id: letter.id, action: 'would-replay', errorCode });
      progress.line(`would replay ${describe(letter)}`);
    } else {
      let newId: string;
      try {
        newId = await adapter.requeue(letter);
      } catch (error) {
        tally.failed += 1;
        held.set(letter.id, letter);
        const e = isMailrouteError(error) ? error.toJSON() : { code: 'INTERNAL', message: (error as Error).message };
        outcomes.push({ id: letter.id, action: 'failed', errorCode, error: e });
        progress.line(`failed ${describe(letter)}: ${String(e.message)} (left in the dead-letter queue)`, true);
        progress.update(tally);
        return;
      }
      tally.replayed += 1;
      const outcome: Outcome = { id: letter.id, action: 'replayed', errorCode, newId };
      try {
        await adapter.remove(letter);
        progress.line(`replayed ${describe(letter)} as ${newId}`);
      } catch (error) {
        outcome.notRemoved = (error as Error).message;
        progress.line(
          `replayed ${describe(letter)} as ${newId}, but it is still in the dead-letter queue (${outcome.notRemoved}): remove it by hand, or a later replay sends it again`,
          true,
        );
      }
      outcomes.push(outcome);
    }
    progress.update(tally);
  };

  let maxReached = false;
  let stopped: Record<string, unknown> | undefined;
  try {
    maxReached = await takeAll(adapter, request.max, lease, each, held);
  } catch (error) {
    // The dead-letter queue could not be read (any more): what was done so far is still summed up.
    if (!isMailrouteError(error)) throw error;
    stopped = error.toJSON();
  } finally {
    progress.end();
  }
  const releaseProblems = await releaseAll(adapter, held);
  const left =
    tally.skipped + tally.failed + (dryRun ? tally.replayed : 0) + outcomes.filter((o) => o.notRemoved).length;
  if (json) {
    out(
      JSON.stringify(
        {
          ok: tally.failed === 0 && !stopped && !outcomes.some((o) => o.notRemoved),
          dryRun,
          from: adapter.source,
          to: adapter.target ?? null,
          [dryRun ? 'wouldReplay' : 'replayed']: tally.replayed,
          skippedAmbiguous: tally.skipped,
          failed: tally.failed,
          left,
          maxReached,
          messages: outcomes,
          ...(stopped ? { stopped } : {}),
          ...(releaseProblems.length ? { releaseProblems } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    for (const problem of releaseProblems) out(`note: ${problem}`);
    if (stopped) out(`stopped: ${String(stopped.message)} (${String(stopped.code)})`);
    out(summaryLine(tally, left, stopped ? 'error' : maxReached ? 'max' : 'drained'));
  }
  // A message on both queues now is worth a non-zero status too: someone has to remove it by hand.
  const notRemoved = outcomes.some((o) => o.notRemoved);
  return tally.failed === 0 && !stopped && !notRemoved ? 0 : 1;
}

/**
 * The last line of a replay: what was replayed, skipped, failed and left (of the messages it took), and, when it
 * stopped before the queue was drained (`--max`, or the queue could not be read), that more may be waiting.
 */
export function summaryLine(tally: Tally, left: number, ending: 'drained' | 'max' | 'error' = 'drained'): string {
  const replayed = tally.dryRun ? `would replay ${tally.replayed}` : `replayed ${tally.replayed}`;
  const more = {
    drained: '',
    max: ' (stopped at --max: more may be waiting)',
    error: ' (stopped early: more may be waiting)',
  }[ending];
  const dry = tally.dryRun ? ' Dry run: nothing was changed.' : '';
  return `Summary: ${replayed}, skipped ambiguous ${tally.skipped}, failed ${tally.failed}, left in the dead-letter queue ${left}${more}.${dry}`;
}
