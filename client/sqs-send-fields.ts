import type { SendMessageCommandInput } from '@aws-sdk/client-sqs';
import { ConfigurationError } from '../core/errors.ts';
import type { NormalizedMessage } from '../core/message/message.ts';
import { checkOptions, isInteger, isString } from './options.ts';
import { deduplicationIdOf, fitId, type Payload, senderGroupOf } from './payload.ts';

export interface EnqueueOptions {
  groupId?: string;
  /** FIFO only; default from the message's `idempotencyKey`, else from its payload. */
  deduplicationId?: string;
  /** Standard queues only (SQS refuses a per-message delay on FIFO queues): 0 to 900. */
  delaySeconds?: number;
}

export type GroupIdOf = (message: NormalizedMessage) => string;

type SendFields = Pick<SendMessageCommandInput, 'MessageGroupId' | 'MessageDeduplicationId' | 'DelaySeconds'>;

/**
 * The ordering, deduplication and delay fields of one SendMessage, after checking the enqueue options.
 * Group: the `groupId` option, else the producer's `groupId(message)`, else (FIFO only) the sender address.
 * Deduplication (FIFO only): the `deduplicationId` option, else `key:`/`body:` + SHA-256 (see payload.ts).
 * Any id that does not fit SQS (1-128 printable ASCII characters) is sent as `sha256:` + its digest.
 */
export function sqsSendFields(payload: Payload, options: EnqueueOptions, fifo: boolean, groupIdOf?: GroupIdOf) {
  checkOptions(options, 'enqueue', { groupId: isString, deduplicationId: isString, delaySeconds: isInteger(0, 900) });
  // SQS would refuse these with a 400 naming no option: say which one, before anything is stored.
  if (fifo && options.delaySeconds !== undefined) {
    refuse('enqueue.delaySeconds', 'a FIFO queue takes no per-message delay (set DelaySeconds on the queue)');
  }
  if (!fifo && options.deduplicationId !== undefined) refuse('enqueue.deduplicationId', 'only FIFO queues deduplicate');
  const groupId =
    options.groupId ?? groupFromCallback(groupIdOf, payload) ?? (fifo ? senderGroupOf(payload) : undefined);
  const fields: SendFields = {};
  if (groupId !== undefined) fields.MessageGroupId = fitId(groupId);
  if (fifo) fields.MessageDeduplicationId = fitId(options.deduplicationId ?? deduplicationIdOf(payload));
  if (options.delaySeconds !== undefined) fields.DelaySeconds = options.delaySeconds;
  return fields;
}

function groupFromCallback(groupIdOf: GroupIdOf | undefined, payload: Payload): string | undefined {
  if (!groupIdOf) return undefined;
  const groupId: unknown = groupIdOf(payload.message);
  if (typeof groupId === 'string' && groupId.length > 0) return groupId;
  return refuse(
    'createSqsProducer.groupId',
    `returned ${JSON.stringify(groupId) ?? String(groupId)}, not a non-empty string`,
  );
}

function refuse(path: string, message: string): never {
  throw new ConfigurationError(`${path}: ${message}`, { issues: [{ path, message }] });
}
