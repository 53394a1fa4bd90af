import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { authority, closeServer, listen } from '../common/http.ts';
import { authError, faultError, type RestError, sendJson, sendRestError } from './google-rest.ts';
import { AccessTokens, CLOUD_PLATFORM_SCOPE, handleMetadata } from './metadata.ts';
import { PUBSUB_LIMITS, readPublishRequest } from './publish-request.ts';
import { Subscriptions } from './subscriptions.ts';

export interface PubSubEmulatorOptions {
  host?: string;
  port?: number;
  /** The project the metadata server reports; default `mailroute-emulator`. */
  project?: string;
  /** Decoded bytes a publish request may carry (data, attributes, ordering keys); default 10,000,000. */
  maxRequestBytes?: number;
  tokenTtlSeconds?: number;
}

/** A published message as a subscriber would receive it. */
export interface PubSubStoredMessage {
  /** `projects/{project}/topics/{topic}`. */
  topic: string;
  messageId: string;
  /** The data as published, base64, as a push subscription or Eventarc delivers it. */
  data: string;
  /** The data decoded as UTF-8. */
  text: string;
  attributes: Record<string, string>;
  orderingKey?: string;
  publishTime: string;
}

export interface PubSubEmulator {
  /** The API root: `apiRoot` of the producer, `MAILROUTE_PUBSUB_API_ROOT` of the functions. */
  url: string;
  /** `host:port` for `GCE_METADATA_HOST`: google-auth-library then gets its tokens here, as on Cloud Run. */
  metadataHost: string;
  /** Creates a topic (`topics.create`) and returns its full name. */
  createTopic(project: string, topic: string): string;
  /** Messages published to a topic (full name), oldest first; splice the array to clear it. */
  messages(topic: string): PubSubStoredMessage[];
  /**
   * Creates a pull subscription to a topic (`subscriptions.create`) and returns its full name
   * (`projects/P/subscriptions/S`): it gets every message published to the topic from now on.
   */
  createSubscription(project: string, subscription: string, topic: string, ackDeadlineSeconds?: number): string;
  /** A subscription's messages not yet acknowledged (leased or not), oldest first. */
  pending(subscription: string): PubSubStoredMessage[];
  /** A valid bearer token, as `gcloud auth print-access-token` gives one; default scope cloud-platform. */
  issueToken(scopes?: string[]): string;
  /** The scopes of every token request the metadata server answered. */
  tokenRequests: { scopes: string[] }[];
  expireTokens(): void;
  faults: FaultPlan;
  reset(): void;
  close(): Promise<void>;
}

const PUBLISH = /^\/v1\/projects\/([^/]+)\/topics\/([^/:]+)(?::|%3A)publish$/i;
const SUBSCRIPTION =
  /^\/v1\/projects\/([^/]+)\/subscriptions\/([^/:%]+)(?:(?::|%3A)(pull|acknowledge|modifyAckDeadline))?$/i;

/**
 * Cloud Pub/Sub's REST `topics.publish` (`POST /v1/projects/{p}/topics/{t}:publish` → `{ messageIds }`) with
 * Google's limits and error shapes, a bearer token required, and the metadata server's token endpoint that
 * hands those tokens out. Pull subscriptions too: `subscriptions.create` (`PUT /v1/projects/{p}/subscriptions/{s}`),
 * `:pull`, `:acknowledge` and `:modifyAckDeadline` (subscriptions.ts). Topics are created by the test; faults
 * (`faults.add`, or `POST /_emulator/faults`) play on every API path.
 *
 * @example
 * const pubsub = await startPubSubEmulator();
 * const topic = pubsub.createTopic('my-project', 'mailroute-send'); // projects/my-project/topics/mailroute-send
 */
export async function startPubSubEmulator(options: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const host = options.host ?? '127.0.0.1';
  const project = options.project ?? 'mailroute-emulator';
  const maxRequestBytes = options.maxRequestBytes ?? PUBSUB_LIMITS.requestBytes;
  const topics = new Map<string, PubSubStoredMessage[]>();
  const tokens = new AccessTokens(options.tokenTtlSeconds);
  const faults = new FaultPlan();
  const subscriptions = new Subscriptions();
  let sequence = 0;
  const serviceAccount = `mailroute-runtime@${project}.iam.gserviceaccount.com`;

  async function publish(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const body = (await readBody(req)).toString('utf8');
    const auth = tokens.check(req.headers.authorization);
    if (auth !== 'ok') return sendRestError(res, authError(auth));
    const stored = topics.get(name);
    if (!stored)
      return sendRestError(res, { status: 404, message: `Resource not found (resource=${name.split('/')[3]}).` });
    const read = readPublishRequest(body, maxRequestBytes);
    if (!Array.isArray(read)) return sendRestError(res, read);
    const publishTime = new Date().toISOString();
    const messageIds = read.map((m) => {
      // Pub/Sub's ids are decimal numbers, unique per topic.
      const messageId = String(17_000_000_000_000_000n + BigInt(++sequence));
      const message: PubSubStoredMessage = {
        topic: name,
        messageId,
        data: m.data.toString('base64'),
        text: m.data.toString('utf8'),
        attributes: m.attributes,
        ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
        publishTime,
      };
      stored.push(message);
      subscriptions.published(message);
      return messageId;
    });
    sendJson(res, 200, { messageIds });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/computeMetadata/'))
      return handleMetadata(req, res, url, { tokens, project, serviceAccount });
    if (url.pathname.startsWith('/_emulator/')) return control(req, res, url.pathname);
    const fault = faults.take(url.pathname);
    if (fault && (await playLatencyAndDrop(fault, req, res))) return;
    if (fault && (fault.status !== undefined || fault.errorCode !== undefined)) {
      await readBody(req);
      return sendRestError(res, faultError(fault));
    }
    const match = PUBLISH.exec(url.pathname);
    if (req.method === 'POST' && match) {
      return publish(req, res, `projects/${decodeURIComponent(match[1]!)}/topics/${decodeURIComponent(match[2]!)}`);
    }
    const sub = SUBSCRIPTION.exec(url.pathname);
    if (sub) {
      const name = `projects/${decodeURIComponent(sub[1]!)}/subscriptions/${decodeURIComponent(sub[2]!)}`;
      return subscription(req, res, name, sub[3]);
    }
    await readBody(req);
    sendRestError(res, {
      status: 404,
      message: `The emulator serves only topics.publish and pull subscriptions, not ${req.method} ${url.pathname}`,
    });
  }

  /** `subscriptions.create` (PUT on the name) and the pull, acknowledge and modifyAckDeadline methods. */
  async function subscription(req: IncomingMessage, res: ServerResponse, name: string, method?: string) {
    const text = (await readBody(req)).toString('utf8');
    const auth = tokens.check(req.headers.authorization);
    if (auth !== 'ok') return sendRestError(res, authError(auth));
    let body: unknown;
    try {
      body = JSON.parse(text || '{}');
    } catch (error) {
      return sendRestError(res, { status: 400, message: `Invalid JSON payload received. ${(error as Error).message}` });
    }
    const answer = (result: object | RestError) =>
      'status' in result && 'message' in result && typeof result.status === 'number'
        ? sendRestError(res, result as RestError)
        : sendJson(res, 200, result);
    const verb = method?.toLowerCase();
    if (req.method === 'PUT' && !method) {
      const { topic, ackDeadlineSeconds } = body as { topic?: unknown; ackDeadlineSeconds?: unknown };
      if (typeof topic !== 'string') return sendRestError(res, { status: 400, message: 'topic is required.' });
      const made = subscriptions.create(
        name,
        topic,
        topics.has(topic),
        ackDeadlineSeconds === undefined ? undefined : Number(ackDeadlineSeconds),
      );
      if ('status' in made) return sendRestError(res, made);
      return sendJson(res, 200, { name, topic, ackDeadlineSeconds: made.ackDeadlineSeconds });
    }
    if (req.method !== 'POST' || !verb) {
      return sendRestError(res, { status: 404, message: `The emulator does not serve ${req.method} ${name}` });
    }
    if (verb === 'pull') return answer(subscriptions.pull(name, body));
    if (verb === 'acknowledge') return answer(subscriptions.acknowledge(name, body));
    return answer(subscriptions.modifyAckDeadline(name, body));
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = (await readBody(req)).toString('utf8');
    if (req.method === 'POST' && path === '/_emulator/faults') {
      const parsed = JSON.parse(body || '[]') as Fault | Fault[];
      for (const fault of [parsed].flat()) faults.add(fault);
      return sendJson(res, 200, { ok: true });
    }
    if (req.method === 'GET' && path === '/_emulator/messages') {
      return sendJson(res, 200, { topics: Object.fromEntries(topics) });
    }
    sendJson(res, 404, { error: 'unknown control path' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      sendRestError(res, { status: 500, message: `Emulator error: ${String(error)}` });
    });
  });
  const hostPort = authority(host, await listen(server, options.port, host));
  return {
    url: `http://${hostPort}`,
    metadataHost: hostPort,
    createTopic: (p, t) => {
      const name = `projects/${p}/topics/${t}`;
      if (!topics.has(name)) topics.set(name, []);
      return name;
    },
    messages: (topic) => {
      const stored = topics.get(topic);
      if (!stored) throw new Error(`no topic ${topic} (create it with createTopic; the name is projects/P/topics/T)`);
      return stored;
    },
    createSubscription: (p, s, topic, ackDeadlineSeconds) => {
      const name = `projects/${p}/subscriptions/${s}`;
      const made = subscriptions.create(name, topic, topics.has(topic), ackDeadlineSeconds);
      if ('status' in made) throw new Error(`createSubscription ${name}: ${made.message}`);
      return name;
    },
    pending: (name) => {
      const pending = subscriptions.pending(name);
      if (!pending) throw new Error(`no subscription ${name} (create it with createSubscription)`);
      return pending;
    },
    issueToken: (scopes = [CLOUD_PLATFORM_SCOPE]) => tokens.issue(scopes).token,
    tokenRequests: tokens.requests,
    expireTokens: () => tokens.expireAll(),
    faults,
    reset: () => {
      for (const stored of topics.values()) stored.length = 0;
      subscriptions.clear();
      faults.clear();
    },
    close: () => closeServer(server),
  };
}
