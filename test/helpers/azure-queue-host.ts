import { randomUUID } from 'node:crypto';
import { InvocationContext, type LogHandler, type StorageQueueHandler } from '@azure/functions';
import type { DequeuedMessageItem, QueueClient, QueueServiceClient } from '@azure/storage-queue';
import host from '../../functions/azure/host.json' with { type: 'json' };

/** host.json's `extensions.queues`, the part the simulator plays; times in seconds. */
export interface QueueHostSettings {
  batchSize: number;
  maxDequeueCount: number;
  /** How long a message whose invocation failed stays invisible before its next dequeue. */
  visibilityTimeout: number;
}

export interface Invocation {
  messageId: string;
  dequeueCount: number;
  /** `poisoned`: moved to the poison queue (after a failure on the last dequeue, or undecodable, or over the count). */
  result: 'succeeded' | 'failed' | 'poisoned';
  /** Whether the function ran for this dequeue. */
  invoked: boolean;
  error?: string;
}

export interface AzureQueueHostOptions {
  /** The account's queue service (the trigger's `connection`). */
  service: QueueServiceClient;
  /** The trigger's queue. */
  queueName: string;
  handler: StorageQueueHandler;
  functionName?: string;
  /** Overrides of functions/azure/host.json's settings (tests use `visibilityTimeout: 0` to retry at once). */
  settings?: Partial<QueueHostSettings>;
  /** Seconds a received message stays hidden while its function runs; the real host takes 10 minutes and renews. */
  leaseSeconds?: number;
  /** Where `context.log` and friends go; default: dropped. */
  logHandler?: LogHandler;
}

const seconds = (timeSpan: string) => timeSpan.split(':').reduce((total, part) => total * 60 + Number(part), 0);

/** The settings in functions/azure/host.json, as the host reads them. */
export const HOST_QUEUE_SETTINGS: QueueHostSettings = {
  batchSize: host.extensions.queues.batchSize,
  maxDequeueCount: host.extensions.queues.maxDequeueCount,
  visibilityTimeout: seconds(host.extensions.queues.visibilityTimeout),
};

/**
 * What the Functions host's queue listener (Storage extension 5.x, `messageEncoding: base64`) does with a Storage
 * queue, played against a real queue in Azurite:
 * - receive up to `batchSize` messages with a lease, and invoke the function for each, concurrently;
 * - base64-decode the text (one that is not base64 goes straight to `<queue>-poison`, uninvoked), then hand it
 *   over as the worker does: JSON-parsed when it parses, else the string; `triggerMetadata` carries `id`,
 *   `dequeueCount`, `popReceipt`, `insertionTime`, `expirationTime`, `nextVisibleTime` and `queueTrigger`;
 * - on success delete the message; on a throw, if it has been dequeued `maxDequeueCount` times, copy its
 *   original text to `<queue>-poison` (created on first use) and delete it, else make it visible again after
 *   `visibilityTimeout`; a message dequeued more often than that (a crash) is poisoned without invoking.
 */
export class AzureQueueHost {
  readonly queue: QueueClient;
  readonly poison: QueueClient;
  readonly invocations: Invocation[] = [];
  readonly settings: QueueHostSettings;
  /** Fault: the next N successful invocations lose their delete (the host died first); the lease then expires. */
  failDeletes = 0;
  private readonly options: AzureQueueHostOptions;
  private poisonReady?: Promise<unknown>;

  constructor(options: AzureQueueHostOptions) {
    this.options = options;
    this.settings = { ...HOST_QUEUE_SETTINGS, ...options.settings };
    this.queue = options.service.getQueueClient(options.queueName);
    this.poison = options.service.getQueueClient(`${options.queueName}-poison`);
  }

  /** One batch: receives, invokes, settles each message. Returns how many messages were received. */
  async poll(): Promise<number> {
    const { receivedMessageItems } = await this.queue.receiveMessages({
      numberOfMessages: this.settings.batchSize,
      visibilityTimeout: this.options.leaseSeconds ?? 30,
    });
    await Promise.all(receivedMessageItems.map((m) => this.process(m)));
    return receivedMessageItems.length;
  }

  /** Polls until the queue is empty, waiting for leased or delayed messages; bounded in polls and time. */
  async runUntilIdle({ maxPolls = 100, timeoutMs = 20_000 } = {}): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (let polls = 0; polls < maxPolls && Date.now() < end; polls++) {
      if ((await this.poll()) > 0) continue;
      const { approximateMessagesCount } = await this.queue.getProperties();
      if (!approximateMessagesCount) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`queue ${this.queue.name} still has messages after ${maxPolls} polls or ${timeoutMs} ms`);
  }

  private async process(message: DequeuedMessageItem): Promise<void> {
    const record = (result: Invocation['result'], invoked: boolean, error?: string) =>
      this.invocations.push({
        messageId: message.messageId,
        dequeueCount: message.dequeueCount,
        result,
        invoked,
        ...(error ? { error } : {}),
      });
    const text = decodeBase64(message.messageText);
    if (text === undefined || message.dequeueCount > this.settings.maxDequeueCount) {
      await this.moveToPoison(message);
      return void record('poisoned', false, text === undefined ? 'not base64' : 'over maxDequeueCount');
    }
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: this.options.functionName ?? 'send-queue',
      triggerMetadata: {
        id: message.messageId,
        dequeueCount: message.dequeueCount,
        popReceipt: message.popReceipt,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        queueTrigger: text,
      },
      logHandler: this.options.logHandler ?? (() => {}),
    });
    try {
      await this.options.handler(parseLikeTheWorker(text), context);
    } catch (error) {
      if (message.dequeueCount >= this.settings.maxDequeueCount) {
        await this.moveToPoison(message);
        return void record('poisoned', true, (error as Error).message);
      }
      await this.queue.updateMessage(message.messageId, message.popReceipt, undefined, this.settings.visibilityTimeout);
      return void record('failed', true, (error as Error).message);
    }
    if (this.failDeletes > 0) this.failDeletes -= 1;
    else await this.queue.deleteMessage(message.messageId, message.popReceipt);
    record('succeeded', true);
  }

  private async moveToPoison(message: DequeuedMessageItem): Promise<void> {
    this.poisonReady ??= this.poison.createIfNotExists();
    await this.poisonReady;
    await this.poison.sendMessage(message.messageText);
    await this.queue.deleteMessage(message.messageId, message.popReceipt);
  }
}

/** Strict, as .NET's `Convert.FromBase64String` is: text that is not base64 is undefined, never garbage. */
function decodeBase64(text: string): string | undefined {
  const compact = text.replace(/\s/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** The Node worker's `tryJsonParse`: a JSON text arrives parsed, anything else as the string. */
function parseLikeTheWorker(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
