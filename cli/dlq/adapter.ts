import { InvalidMessageError } from '../../core/errors.ts';

/**
 * One message read from a dead-letter place, whatever the cloud: the fields every mailroute dead letter carries
 * (core/runtime/dead-letter.ts) when it has them. A message the queue itself set aside (SQS redrive, the Azure
 * poison queue, a Pub/Sub dead-letter topic) has a body and no reason.
 */
export interface DeadLetter {
  /** The dead-letter queue's own id of the message. */
  id: string;
  /** The ORIGINAL body, as the send queue had it: what a replay enqueues again. */
  body: string;
  reason?: string;
  errorCode?: string;
  /** The send queue's id of the record that failed. */
  sourceMessageId?: string;
  /** How many times the send queue had delivered it, when the dead letter says. */
  receiveCount?: number;
  /** When it reached the dead-letter place (ISO 8601), when the queue says. */
  firstSeen?: string;
  /** What this delivery is acknowledged or given back with (receipt handle, pop receipt, ack id). */
  handle: string;
}

/**
 * A dead-letter place and the send queue it is replayed to. `receive` leases messages (they are invisible to
 * others until `remove`d, `release`d or the lease runs out), so two replays never take the same message.
 */
export interface DlqAdapter {
  /** The dead-letter place, as messages name it. */
  readonly source: string;
  /** The send queue, as messages name it; undefined when no `--to` was given. */
  readonly target?: string;
  /** The most messages one receive can ask for. */
  readonly maxBatch: number;
  /** The longest lease the service allows, in seconds. */
  readonly maxLeaseSeconds: number;
  receive(max: number, leaseSeconds: number): Promise<DeadLetter[]>;
  /** Enqueues the original body on the send queue through mailroute's producer; resolves with the new id. */
  requeue(letter: DeadLetter): Promise<string>;
  /** Deletes (acknowledges) the message from the dead-letter place. */
  remove(letter: DeadLetter): Promise<void>;
  /** Ends the lease now, so the message is visible again at once. */
  release(letter: DeadLetter): Promise<void>;
  /** About how many messages the dead-letter place holds, when the service says. */
  count?(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** What the command hands an adapter: the names after their `cloud:` prefix and the options that reach it. */
export interface AdapterOptions {
  from: string;
  to?: string;
  /** `--endpoint`: the service's endpoint (an emulator's URL). */
  endpoint?: string;
  /** `--to-endpoint`: the send queue's endpoint when it differs (OCI: each queue has its messages endpoint). */
  toEndpoint?: string;
  /** `--connection-string-env`: the variable holding the Azure Storage connection string. */
  connectionStringEnv?: string;
  /** `--channel`: OCI Queue channel to read. */
  channel?: string;
  env: NodeJS.ProcessEnv;
}

/** A dead letter's body as the message a producer validates; a body that is not JSON cannot be re-enqueued. */
export function messageOf(letter: DeadLetter): unknown {
  try {
    return JSON.parse(letter.body);
  } catch (error) {
    throw new InvalidMessageError([
      {
        path: '',
        message: `the dead letter's body is not JSON (${(error as Error).message}): fix and enqueue it by hand`,
      },
    ]);
  }
}

/** A queue's text attribute as a dead letter field: absent, empty and the `-` SQS writes for empty are all unset. */
export function field(value: string | undefined | null): string | undefined {
  return value && value !== '-' ? value : undefined;
}

/** A count written as text, when it is a positive whole number. */
export function countOf(value: string | number | undefined | null): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A time the service gave (Date, ISO text or epoch ms as text) as ISO 8601, when it is one. */
export function isoTime(value: Date | string | number | undefined | null): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const date = value instanceof Date ? value : new Date(/^\d+$/.test(String(value)) ? Number(value) : String(value));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
