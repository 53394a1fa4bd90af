import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { closeServer, listen, ServiceError, writeAwsJson } from '../common/http.ts';

/**
 * Amazon SQS over its AWS JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Action>`), as `@aws-sdk/client-sqs`
 * speaks it: CreateQueue, GetQueueUrl, SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessage,
 * ChangeMessageVisibility, GetQueueAttributes. Bodies carry the MD5 digests the SDK checks. FIFO queues (`.fifo`)
 * need a group id and drop a repeated deduplication id within five minutes, as SQS does. A received message is
 * in flight for the receive's `VisibilityTimeout` (default the queue's, 30 s), then visible again.
 */
export interface SqsMessage {
  MessageId: string;
  Body: string;
  MD5OfBody: string;
  MessageAttributes?: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
  SequenceNumber?: string;
  receiveCount: number;
  /** The receipt handle of the latest receive. */
  receiptHandle?: string;
  /** Epoch ms until which the message is in flight (not received again); 0 when it was never received. */
  invisibleUntil: number;
  /** Epoch ms: `SentTimestamp`. */
  sentAt: number;
  /** Epoch ms: `ApproximateFirstReceiveTimestamp`. */
  firstReceivedAt?: number;
}

interface Queue {
  name: string;
  fifo: boolean;
  /** Seconds a received message stays in flight unless the receive says otherwise (the `VisibilityTimeout` attribute). */
  visibilityTimeout: number;
  messages: SqsMessage[];
  dedup: Map<string, { id: string; at: number }>;
  sequence: number;
}

export interface SqsEmulator {
  url: string;
  queueUrl(name: string): string;
  /** Messages currently in a queue (sent and not deleted). */
  messages(name: string): SqsMessage[];
  /** Creates a queue (attributes as CreateQueue takes them: `VisibilityTimeout`) and returns its URL. */
  createQueue(name: string, attributes?: Record<string, string>): string;
  faults: FaultPlan;
  close(): Promise<void>;
}

const ACCOUNT = '000000000000';
const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

/** The digest SQS computes over message attributes: sorted by name, each part length-prefixed. */
export function md5OfAttributes(attributes: NonNullable<SqsMessage['MessageAttributes']>): string {
  const parts: Buffer[] = [];
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name]!;
    field(Buffer.from(name));
    field(Buffer.from(a.DataType));
    const binary = a.DataType.startsWith('Binary');
    parts.push(Buffer.from([binary ? 2 : 1]));
    field(binary ? Buffer.from(a.BinaryValue ?? '', 'base64') : Buffer.from(a.StringValue ?? ''));
  }
  return md5(Buffer.concat(parts));
}

/** An SQS error; `code` is the `__type` of the answer (`com.amazonaws.sqs#<Code>`). */
class SqsError extends ServiceError {}

/** A visibility timeout in seconds, 0 to 43,200 (12 hours), as SQS allows. */
function visibilitySeconds(value: unknown): number {
  const seconds = Number(value);
  if (value === undefined || !Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
    throw new SqsError(
      'com.amazonaws.sqs#InvalidParameterValue',
      `Value ${String(value)} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.`,
    );
  }
  return seconds;
}

function requiredHandle(value: unknown): string {
  if (typeof value !== 'string' || !value) {
    throw new SqsError('com.amazonaws.sqs#MissingParameter', 'The request must contain the parameter ReceiptHandle.');
  }
  return value;
}

export async function startSqsEmulator(
  options: { host?: string; port?: number; maxMessageBytes?: number; region?: string } = {},
): Promise<SqsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const maxBytes = options.maxMessageBytes ?? 262_144;
  const queues = new Map<string, Queue>();
  const faults = new FaultPlan();
  let base = '';

  const createQueue = (name: string, attributes: Record<string, string> = {}) => {
    if (!queues.has(name)) {
      const visibilityTimeout = visibilitySeconds(attributes.VisibilityTimeout ?? 30);
      queues.set(name, {
        name,
        fifo: name.endsWith('.fifo'),
        visibilityTimeout,
        messages: [],
        dedup: new Map(),
        sequence: 0,
      });
    }
    return `${base}/${ACCOUNT}/${name}`;
  };
  const queueOf = (url: unknown): Queue => {
    const name =
      String(url ?? '')
        .split('/')
        .pop() ?? '';
    const queue = queues.get(name);
    if (!queue) throw new SqsError('com.amazonaws.sqs#QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  };

  const send = (queue: Queue, entry: Record<string, unknown>) => {
    const body = String(entry.MessageBody ?? '');
    if (!body)
      throw new SqsError(
        'com.amazonaws.sqs#InvalidParameterValue',
        'The request must contain the parameter MessageBody.',
      );
    const attributes = entry.MessageAttributes as SqsMessage['MessageAttributes'];
    // SQS counts the body plus each attribute's name, type and value.
    const size =
      Buffer.byteLength(body) +
      Object.entries(attributes ?? {}).reduce(
        (n, [name, a]) =>
          n +
          Buffer.byteLength(name) +
          Buffer.byteLength(a.DataType) +
          Buffer.byteLength(a.StringValue ?? a.BinaryValue ?? ''),
        0,
      );
    if (size > maxBytes) {
      throw new SqsError(
        'com.amazonaws.sqs#InvalidParameterValue',
        `One or more parameters are invalid. Reason: Message must be shorter than ${maxBytes} bytes.`,
      );
    }
    const groupId = entry.MessageGroupId as string | undefined;
    const dedupId = entry.MessageDeduplicationId as string | undefined;
    if (queue.fifo && !groupId) {
      throw new SqsError(
        'com.amazonaws.sqs#MissingParameter',
        'The request must contain the parameter MessageGroupId.',
      );
    }
    if (queue.fifo) {
      const key = dedupId ?? createHash('sha256').update(body).digest('hex');
      const seen = queue.dedup.get(key);
      if (seen && Date.now() - seen.at < 300_000) return { MessageId: seen.id, MD5OfMessageBody: md5(body) };
      queue.dedup.set(key, { id: '', at: Date.now() });
    }
    const message: SqsMessage = {
      MessageId: randomUUID(),
      Body: body,
      MD5OfBody: md5(body),
      receiveCount: 0,
      invisibleUntil: 0,
      sentAt: Date.now(),
      ...(attributes ? { MessageAttributes: attributes } : {}),
      ...(groupId ? { MessageGroupId: groupId } : {}),
      ...(dedupId ? { MessageDeduplicationId: dedupId } : {}),
      ...(queue.fifo ? { SequenceNumber: String(++queue.sequence).padStart(20, '0') } : {}),
    };
    if (queue.fifo)
      queue.dedup.set(dedupId ?? createHash('sha256').update(body).digest('hex'), {
        id: message.MessageId,
        at: Date.now(),
      });
    queue.messages.push(message);
    return {
      MessageId: message.MessageId,
      MD5OfMessageBody: message.MD5OfBody,
      ...(attributes ? { MD5OfMessageAttributes: md5OfAttributes(attributes) } : {}),
      ...(message.SequenceNumber ? { SequenceNumber: message.SequenceNumber } : {}),
    };
  };

  const actions: Record<string, (input: Record<string, unknown>) => unknown> = {
    CreateQueue: (input) => ({
      QueueUrl: createQueue(String(input.QueueName), (input.Attributes as Record<string, string>) ?? {}),
    }),
    GetQueueUrl: (input) => ({ QueueUrl: `${base}/${ACCOUNT}/${queueOf(`/${String(input.QueueName)}`).name}` }),
    SendMessage: (input) => send(queueOf(input.QueueUrl), input),
    SendMessageBatch: (input) => {
      const queue = queueOf(input.QueueUrl);
      const Successful: unknown[] = [];
      const Failed: unknown[] = [];
      for (const entry of (input.Entries as Record<string, unknown>[]) ?? []) {
        try {
          Successful.push({ Id: entry.Id, ...send(queue, entry) });
        } catch (error) {
          const e = error as SqsError;
          Failed.push({ Id: entry.Id, SenderFault: true, Code: e.code.split('#').pop(), Message: e.message });
        }
      }
      return { Successful, Failed };
    },
    ReceiveMessage: (input) => {
      const queue = queueOf(input.QueueUrl);
      const max = Number(input.MaxNumberOfMessages ?? 1);
      if (!Number.isInteger(max) || max < 1 || max > 10) {
        throw new SqsError(
          'com.amazonaws.sqs#InvalidParameterValue',
          `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
        );
      }
      const timeout =
        input.VisibilityTimeout === undefined ? queue.visibilityTimeout : visibilitySeconds(input.VisibilityTimeout);
      const now = Date.now();
      const visible = queue.messages.filter((m) => m.invisibleUntil <= now).slice(0, max);
      for (const m of visible) {
        m.receiveCount += 1;
        m.receiptHandle = randomUUID();
        m.invisibleUntil = now + timeout * 1000;
        m.firstReceivedAt ??= now;
      }
      return {
        Messages: visible.map((m) => ({
          MessageId: m.MessageId,
          ReceiptHandle: m.receiptHandle,
          MD5OfBody: m.MD5OfBody,
          Body: m.Body,
          Attributes: {
            ApproximateReceiveCount: String(m.receiveCount),
            SentTimestamp: String(m.sentAt),
            ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
            ...(m.MessageGroupId ? { MessageGroupId: m.MessageGroupId } : {}),
          },
          ...(m.MessageAttributes
            ? { MessageAttributes: m.MessageAttributes, MD5OfMessageAttributes: md5OfAttributes(m.MessageAttributes) }
            : {}),
        })),
      };
    },
    DeleteMessage: (input) => {
      const queue = queueOf(input.QueueUrl);
      const handle = requiredHandle(input.ReceiptHandle);
      // SQS deletes with a handle of an earlier receive too, and answers success for one already deleted.
      queue.messages = queue.messages.filter((m) => m.receiptHandle !== handle);
      return {};
    },
    ChangeMessageVisibility: (input) => {
      const queue = queueOf(input.QueueUrl);
      const handle = requiredHandle(input.ReceiptHandle);
      const timeout = visibilitySeconds(input.VisibilityTimeout);
      const message = queue.messages.find((m) => m.receiptHandle === handle);
      if (!message) {
        throw new SqsError(
          'com.amazonaws.sqs#ReceiptHandleIsInvalid',
          `The input receipt handle "${handle}" is not a valid receipt handle.`,
        );
      }
      if (message.invisibleUntil <= Date.now()) {
        throw new SqsError('com.amazonaws.sqs#MessageNotInflight', 'The message referred to is not in flight.');
      }
      message.invisibleUntil = Date.now() + timeout * 1000;
      return {};
    },
    GetQueueAttributes: (input) => {
      const queue = queueOf(input.QueueUrl);
      return { Attributes: { ApproximateNumberOfMessages: String(queue.messages.length) } };
    },
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) =>
      reply(res, 500, { __type: 'com.amazonaws.sqs#InternalError', message: error.message }),
    );
  });
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    const fault = faults.take(req.url ?? '/');
    if (fault) {
      if (await playLatencyAndDrop(fault, req, res)) return;
      if (fault.status) {
        const type = `com.amazonaws.sqs#${fault.errorCode ?? (fault.status >= 500 ? 'InternalError' : 'RequestThrottled')}`;
        return reply(res, fault.status, { __type: type, message: fault.message ?? 'Injected fault.' });
      }
    }
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    const run = actions[action];
    if (!run)
      return reply(res, 400, { __type: 'com.amazonaws.sqs#InvalidAction', message: `Unknown action ${action}` });
    try {
      reply(res, 200, run(JSON.parse(body.toString() || '{}')));
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      reply(res, error.status, { __type: error.code, message: error.message });
    }
  }

  base = `http://${host}:${await listen(server, options.port, host)}`;
  void region;
  return {
    url: base,
    queueUrl: (name) => `${base}/${ACCOUNT}/${name}`,
    messages: (name) => queues.get(name)?.messages ?? [],
    createQueue,
    faults,
    // A request held by a `hang` fault keeps its connection open: closing ends it too.
    close: () => closeServer(server).catch(() => {}),
  };
}

function reply(res: ServerResponse, status: number, body: unknown) {
  writeAwsJson(res, status, body, '1.0');
}
