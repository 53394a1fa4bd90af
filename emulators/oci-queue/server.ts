import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultPlan } from '../common/faults.ts';
import { closeServer, listen } from '../common/http.ts';
import { errorFor, invalidParameter, sendJson, sendOciError } from '../oci/oci-errors.ts';
import { authenticate, createOciServer, playOciFault } from '../oci/serve.ts';
import { keysById, type OciApiKey } from '../oci/signature.ts';

export interface OciQueueEmulatorOptions {
  host?: string;
  port?: number;
  /** API signing keys the emulator trusts, by keyId (`<tenancy>/<user>/<fingerprint>`). */
  keys: OciApiKey[];
  /** Largest content accepted, in UTF-8 bytes; default 262,144 (the figure in our brief; OCI's is unverified). */
  maxMessageBytes?: number;
}

export interface OciQueueSettings {
  /** Seconds a delivered message stays invisible; default 30 (OCI's default). 0 makes GetMessages a peek. */
  visibilityInSeconds?: number;
  /** Deliveries after which a message moves to the queue's dead-letter queue; 0 (default) = never. */
  deadLetterQueueDeliveryCount?: number;
  /** Retention; default 86,400 s. */
  retentionInSeconds?: number;
}

export interface OciQueueMessage {
  /** Numeric in OCI's JSON; kept below 2^53 here so clients that parse it as a number keep every digit. */
  id: number;
  content: string;
  metadata?: { channelId?: string; customProperties?: Record<string, string> };
  deliveryCount: number;
  /** Epoch ms from which GetMessages may return it. */
  visibleAfter: number;
  createdAt: Date;
  expireAfter: Date;
  /** The receipt of the latest delivery; DeleteMessage needs it. */
  receipt?: string;
  /** The keyId that put it. */
  keyId: string;
}

export interface OciQueueEmulator {
  /** `http://host:port`: the queues' messages endpoint (the SDK appends `/20210201`). */
  url: string;
  faults: FaultPlan;
  /** Creates (or resets) a queue; requests for an unknown queue get OCI's 404. */
  createQueue(queueId: string, settings?: OciQueueSettings): void;
  /** The queue's messages, in order (in flight or not), live objects. */
  messages(queueId: string): OciQueueMessage[];
  /** What moved to the queue's own dead-letter queue after too many deliveries. */
  deadLetters(queueId: string): OciQueueMessage[];
  reset(): void;
  close(): Promise<void>;
}

interface Queue {
  settings: Required<OciQueueSettings>;
  messages: OciQueueMessage[];
  deadLetters: OciQueueMessage[];
}

const PATH = /^\/20210201\/queues\/([^/]+)\/messages(?:\/([^/]+))?$/;

/**
 * The OCI Queue messages API (20210201) on loopback: PutMessages, GetMessages (no long polling: it answers at
 * once; `channelFilter` returns the channel whose id matches exactly), UpdateMessage (a delivered message's
 * visibility) and DeleteMessage, every request signature verified; faults from `emulators/common/faults.ts`.
 * @example
 * const queue = await startOciQueueEmulator({ keys: [{ keyId, publicKeyPem }] });
 * queue.createQueue('ocid1.queue.oc1..send', { deadLetterQueueDeliveryCount: 3 });
 */
export async function startOciQueueEmulator(options: OciQueueEmulatorOptions): Promise<OciQueueEmulator> {
  const keys = keysById(options.keys);
  const faults = new FaultPlan();
  const queues = new Map<string, Queue>();
  const limit = options.maxMessageBytes ?? 262_144;
  let nextId = 1_000_000_000_001;

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const body = await playOciFault(faults, url.pathname, req, res, requestId);
    if (!body) return;
    const keyId = authenticate(req, res, body, keys, requestId);
    if (keyId === undefined) return;
    const [, queueId = '', receipt] = PATH.exec(url.pathname) ?? [];
    const queue = queues.get(decodeURIComponent(queueId));
    if (!queue) return sendOciError(res, errorFor(404), requestId);
    const now = Date.now();
    if (req.method === 'POST' && !receipt) {
      const entries = parsePut(body);
      if (typeof entries === 'string') return sendOciError(res, invalidParameter(entries), requestId);
      const tooLarge = entries.find((e) => Buffer.byteLength(e.content, 'utf8') > limit);
      if (tooLarge) return sendOciError(res, invalidParameter(`Message content exceeds ${limit} bytes.`), requestId);
      const expireAfter = new Date(now + queue.settings.retentionInSeconds * 1000);
      const put = entries.map((e) => ({
        ...e,
        id: nextId++,
        deliveryCount: 0,
        visibleAfter: now,
        createdAt: new Date(now),
        expireAfter,
        keyId,
      }));
      queue.messages.push(...put);
      return sendJson(res, 200, { messages: put.map((m) => ({ id: m.id, expireAfter })) }, requestId);
    }
    if (req.method === 'GET' && !receipt) {
      const visibility = Number(url.searchParams.get('visibilityInSeconds') ?? queue.settings.visibilityInSeconds);
      const max = Number(url.searchParams.get('limit') ?? 1);
      const channel = url.searchParams.get('channelFilter') ?? undefined;
      return sendJson(res, 200, { messages: deliver(queue, now, visibility, max, channel) }, requestId);
    }
    if (req.method === 'PUT' && receipt) {
      const message = queue.messages.find((m) => m.receipt === decodeURIComponent(receipt));
      if (!message)
        return sendOciError(res, errorFor(404, 'The receipt is not valid or the message was deleted.'), requestId);
      const seconds = visibilityIn(body);
      if (typeof seconds === 'string') return sendOciError(res, invalidParameter(seconds), requestId);
      message.visibleAfter = now + seconds * 1000;
      return sendJson(res, 200, { visibleAfter: new Date(message.visibleAfter) }, requestId);
    }
    if (req.method === 'DELETE' && receipt) {
      const at = queue.messages.findIndex((m) => m.receipt === decodeURIComponent(receipt));
      if (at === -1)
        return sendOciError(res, errorFor(404, 'The receipt is not valid or the message was deleted.'), requestId);
      queue.messages.splice(at, 1);
      res.writeHead(200, { 'opc-request-id': requestId, 'content-length': 0 }).end();
      return;
    }
    sendOciError(res, errorFor(405), requestId);
  };

  const server = createOciServer(handle);
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port, host);
  const queueOf = (id: string) => {
    const queue = queues.get(id);
    if (!queue) throw new Error(`no emulated queue ${id}`);
    return queue;
  };
  return {
    url: `http://${host}:${port}`,
    faults,
    createQueue: (queueId, settings = {}) => {
      const defaults = { visibilityInSeconds: 30, deadLetterQueueDeliveryCount: 0, retentionInSeconds: 86_400 };
      queues.set(queueId, { settings: { ...defaults, ...settings }, messages: [], deadLetters: [] });
    },
    messages: (queueId) => queueOf(queueId).messages,
    deadLetters: (queueId) => queueOf(queueId).deadLetters,
    reset: () => {
      queues.clear();
      faults.clear();
    },
    close: () => closeServer(server),
  };
}

/** `{ messages: [{ content, metadata? }] }`, or what is wrong with it, in OCI's words where we know them. */
function parsePut(body: Buffer): Pick<OciQueueMessage, 'content' | 'metadata'>[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'The request body could not be parsed as JSON.';
  }
  const messages = (parsed as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array.';
  const out: Pick<OciQueueMessage, 'content' | 'metadata'>[] = [];
  for (const [i, m] of messages.entries()) {
    const { content, metadata } = (m ?? {}) as { content?: unknown; metadata?: OciQueueMessage['metadata'] };
    if (typeof content !== 'string' || content === '') return `messages[${i}].content must be a non-empty string.`;
    out.push({ content, ...(metadata ? { metadata } : {}) });
  }
  return out;
}

/** UpdateMessage's `{ visibilityInSeconds }` (0 to 43,200), or what is wrong with it. */
function visibilityIn(body: Buffer): number | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'The request body could not be parsed as JSON.';
  }
  const seconds = (parsed as { visibilityInSeconds?: unknown } | null)?.visibilityInSeconds;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0 || seconds > 43_200)
    return 'visibilityInSeconds must be a whole number from 0 to 43200.';
  return seconds;
}

/**
 * GetMessages: the visible messages, oldest first. A message already delivered `deadLetterQueueDeliveryCount`
 * times moves to the dead-letter queue instead of being delivered again.
 */
function deliver(queue: Queue, now: number, visibility: number, max: number, channel?: string) {
  const { deadLetterQueueDeliveryCount: maxDeliveries } = queue.settings;
  for (const m of queue.messages.filter(
    (m) => m.visibleAfter <= now && maxDeliveries > 0 && m.deliveryCount >= maxDeliveries,
  )) {
    queue.messages.splice(queue.messages.indexOf(m), 1);
    queue.deadLetters.push(m);
  }
  return queue.messages
    .filter((m) => m.visibleAfter <= now && (channel === undefined || m.metadata?.channelId === channel))
    .slice(0, Math.max(1, Math.min(max, 20)))
    .map((m) => {
      m.deliveryCount += 1;
      m.visibleAfter = now + visibility * 1000;
      m.receipt = randomBytes(24).toString('base64url');
      const { keyId: _, visibleAfter, ...rest } = m;
      return { ...rest, visibleAfter: new Date(visibleAfter) };
    });
}
