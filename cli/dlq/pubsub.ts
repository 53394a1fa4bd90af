import { GoogleAuth } from 'google-auth-library';
import {
  type AccessTokenSource,
  createPubSubProducer,
  PUBSUB_API_ROOT,
  PUBSUB_SCOPE,
  type PubSubProducer,
  parseTopicPath,
} from '../../client/gcp.ts';
import {
  AuthenticationError,
  ConfigurationError,
  type MailrouteError,
  ProviderUnavailableError,
  ThrottledError,
} from '../../core/errors.ts';
import {
  type AdapterOptions,
  countOf,
  type DeadLetter,
  type DlqAdapter,
  field,
  isoTime,
  messageOf,
} from './adapter.ts';

/** How long one pull may wait for messages before the subscription counts as drained. */
const PULL_WAIT_MS = 10_000;

interface ReceivedMessage {
  ackId: string;
  message: { data?: string; attributes?: Record<string, string>; messageId: string; publishTime?: string };
  deliveryAttempt?: number;
}

/** `projects/P/subscriptions/S` → its project and subscription ids. */
export function parseSubscriptionPath(path: string): { project: string; subscription: string } {
  const match = /^projects\/([a-z][a-z0-9.:-]{4,}[a-z0-9])\/subscriptions\/([A-Za-z][A-Za-z0-9\-_.~+%]{2,254})$/.exec(
    path,
  );
  if (!match) {
    const message = `must be a subscription's full name, projects/PROJECT/subscriptions/SUBSCRIPTION, not "${path}"`;
    throw new ConfigurationError(`--from ${message}`, { issues: [{ path: '--from', message }] });
  }
  return { project: match[1]!, subscription: match[2]! };
}

/**
 * A Pub/Sub dead-letter place, read through a pull subscription (a topic keeps nothing by itself): the failed
 * topic's (`MAILROUTE_FAILED_TOPIC`: the original data and attributes plus `reason`, `errorCode`,
 * `sourceMessageId`, `deliveryAttempt`; functions/gcp/failed-topic.ts), or the send subscription's dead-letter
 * topic's (the data only). Replayed through the Pub/Sub producer (client/gcp.ts) to `--to projects/P/topics/T`.
 *
 * The API root is `--endpoint`, else `MAILROUTE_PUBSUB_API_ROOT` (what the functions use), else
 * `PUBSUB_EMULATOR_HOST` (Google's emulator: plain HTTP and no credentials, as Google's libraries do), else
 * pubsub.googleapis.com with application default credentials.
 */
export function createAdapter(options: AdapterOptions): DlqAdapter {
  const { env } = options;
  const { project } = parseSubscriptionPath(options.from);
  const topic = options.to ? parseTopicPath(options.to, '--to') : undefined;
  const googleEmulator = !options.endpoint && !env.MAILROUTE_PUBSUB_API_ROOT && env.PUBSUB_EMULATOR_HOST;
  const apiRoot = (
    options.endpoint ??
    env.MAILROUTE_PUBSUB_API_ROOT ??
    (googleEmulator ? `http://${googleEmulator}` : PUBSUB_API_ROOT)
  ).replace(/\/+$/, '');
  const auth: AccessTokenSource = googleEmulator
    ? { getAccessToken: async () => 'emulator' }
    : new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: project });
  let producer: PubSubProducer | undefined;

  /** One subscription method; Google's JSON error answer becomes the project's error. */
  async function call(method: string, body: unknown, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    let token: string | null | undefined;
    try {
      const got = await auth.getAccessToken();
      token = typeof got === 'string' ? got : got?.token;
    } catch (error) {
      throw new AuthenticationError(`no access token for Pub/Sub ${options.from}: ${(error as Error).message}`, {
        provider: 'pubsub',
        cause: error,
      });
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${apiRoot}/v1/${options.from}:${method}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      if ((error as Error).name === 'TimeoutError' && method === 'pull') return {};
      const e = error as Error & { cause?: { code?: string } };
      throw new ProviderUnavailableError(
        `Pub/Sub ${method} on ${options.from} failed: ${e.cause?.code ?? e.name}: ${e.message}`,
        { provider: 'pubsub', cause: error },
      );
    }
    if (!response.ok) throw subscriptionError(method, options.from, response.status, text);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  return {
    source: `pubsub:${options.from}`,
    ...(options.to ? { target: `pubsub:${options.to}` } : {}),
    maxBatch: 100,
    maxLeaseSeconds: 600,
    async receive(max, leaseSeconds) {
      const pulled = await call('pull', { maxMessages: Math.min(max, 100), returnImmediately: false }, PULL_WAIT_MS);
      const received = (pulled.receivedMessages ?? []) as ReceivedMessage[];
      if (received.length === 0) return [];
      // The subscription's own ack deadline may be shorter than the lease a replay needs.
      await call('modifyAckDeadline', { ackIds: received.map((r) => r.ackId), ackDeadlineSeconds: leaseSeconds });
      return received.map(({ ackId, message, deliveryAttempt }): DeadLetter => {
        const attributes = message.attributes ?? {};
        const reason = field(attributes.reason);
        const errorCode = field(attributes.errorCode);
        const sourceMessageId = field(attributes.sourceMessageId);
        const receiveCount =
          countOf(attributes.deliveryAttempt) ??
          countOf(attributes.CloudPubSubDeadLetterSourceDeliveryCount) ??
          countOf(deliveryAttempt);
        const firstSeen = isoTime(message.publishTime);
        return {
          id: message.messageId,
          body: Buffer.from(message.data ?? '', 'base64').toString('utf8'),
          handle: ackId,
          ...(reason ? { reason } : {}),
          ...(errorCode ? { errorCode } : {}),
          ...(sourceMessageId ? { sourceMessageId } : {}),
          ...(receiveCount ? { receiveCount } : {}),
          ...(firstSeen ? { firstSeen } : {}),
        };
      });
    },
    async requeue(letter) {
      if (!topic) throw new ConfigurationError('replay needs --to pubsub:projects/PROJECT/topics/TOPIC');
      producer ??= createPubSubProducer({ ...topic, apiRoot, auth });
      return (await producer.enqueue(messageOf(letter) as never)).messageId;
    },
    async remove(letter) {
      await call('acknowledge', { ackIds: [letter.handle] });
    },
    async release(letter) {
      await call('modifyAckDeadline', { ackIds: [letter.handle], ackDeadlineSeconds: 0 });
    },
    async close() {},
  };
}

/** Google's error answer to a subscription method, in the project's taxonomy. */
function subscriptionError(method: string, subscription: string, status: number, body: string): MailrouteError {
  let message = body.slice(0, 200) || `HTTP ${status}`;
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? message;
  } catch {
    // not JSON: the text as it is
  }
  const what = `Pub/Sub ${method} on ${subscription}`;
  const options = { provider: 'pubsub', providerCode: status };
  if (status === 429) return new ThrottledError(`${what} was throttled: ${message}`, options);
  if (status === 401 || status === 403) return new AuthenticationError(`${what} was refused: ${message}`, options);
  if (status === 404) {
    return new ConfigurationError(`${what} failed: the subscription does not exist: ${message}`, {
      ...options,
      issues: [{ path: '--from', message: `${subscription} does not exist (or is in another project)` }],
    });
  }
  if (status >= 400 && status < 500) {
    return new ConfigurationError(`${what} was refused: ${message}`, {
      ...options,
      issues: [{ path: '--from', message }],
    });
  }
  return new ProviderUnavailableError(`${what} failed (${status}): ${message}`, options);
}
