import { GoogleAuth } from 'google-auth-library';
import { ConfigurationError, ProviderUnavailableError } from '../core/errors.ts';
import { untilAborted } from '../core/util/deadline.ts';
import {
  type PubSubTarget,
  translatePubSubFailure,
  translatePubSubNetworkError,
  translateTokenError,
} from './gcp-errors.ts';

export const PUBSUB_API_ROOT = 'https://pubsub.googleapis.com';
export const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';

/**
 * Where the bearer token comes from: a `GoogleAuth` (its `getAccessToken()` gives the token), an auth client
 * (`{ token }`), or anything else with that method (tests, a token broker).
 */
export interface AccessTokenSource {
  getAccessToken(): Promise<string | null | undefined | { token?: string | null }>;
}

/** One message to publish: data as bytes, string attributes, and an ordering key when order matters. */
export interface OutgoingPubSubMessage {
  data: Buffer;
  attributes?: Record<string, string>;
  orderingKey?: string;
}

export interface PubSubPublisherOptions {
  /** `projects/{project}/topics/{topic}`. */
  topic: string;
  /** The option or variable that named the topic, for error messages; default `topic`. */
  setting?: string;
  /** Default `https://pubsub.googleapis.com` (a regional endpoint, or an emulator, in tests). */
  apiRoot?: string;
  /** Default: a `GoogleAuth` with the Pub/Sub scope (application default credentials). */
  auth?: AccessTokenSource;
  /** Per publish call; default 10,000 ms. */
  timeoutMs?: number;
}

export interface PublishCall {
  /**
   * The caller's bound (a function's remaining time): aborting it abandons the token fetch and cancels the
   * request, whatever is left of `timeoutMs`. The publish then throws a retryable `ProviderUnavailableError`.
   */
  signal?: AbortSignal;
}

export interface PubSubPublisher {
  readonly topic: string;
  /** Publishes one message and resolves with its Pub/Sub message id; throws the project's errors. */
  publish(message: OutgoingPubSubMessage, sizeForErrors?: number, call?: PublishCall): Promise<string>;
}

const PROJECT = /^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const TOPIC = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/**
 * The full name of a topic, after checking both ids against Pub/Sub's rules (project: 6-30 lower-case letters,
 * digits and hyphens; topic: 3-255 characters, starting with a letter, not with `goog`).
 */
export function topicPath(project: string, topic: string, setting = 'topic'): string {
  if (!PROJECT.test(project)) refuse('project', `"${project}" is not a Google Cloud project id`);
  if (!TOPIC.test(topic)) refuse(setting, `"${topic}" is not a Pub/Sub topic id (3-255 characters, from a letter)`);
  return `projects/${project}/topics/${topic}`;
}

/** `projects/{project}/topics/{topic}` (as Terraform's `google_pubsub_topic.id` gives it) → its two ids. */
export function parseTopicPath(path: string, setting: string): { project: string; topic: string } {
  const match = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(path);
  if (!match) return refuse(setting, `must be a topic's full name, projects/PROJECT/topics/TOPIC, not "${path}"`);
  topicPath(match[1]!, match[2]!, setting);
  return { project: match[1]!, topic: match[2]! };
}

function refuse(path: string, message: string): never {
  throw new ConfigurationError(`${path} ${message}`, { issues: [{ path, message }] });
}

/**
 * `topics.publish` over Pub/Sub's REST API (`POST {root}/v1/projects/{p}/topics/{t}:publish`) with a bearer
 * token: no gRPC client, so a function bundle stays small. No retries here: a throttle or an outage is thrown
 * as a retryable error and the caller (a queue redelivery, a producer's retry) decides.
 */
export function createPubSubPublisher(options: PubSubPublisherOptions): PubSubPublisher {
  const setting = options.setting ?? 'topic';
  const { project, topic } = parseTopicPath(options.topic, setting);
  const root = (options.apiRoot ?? PUBSUB_API_ROOT).replace(/\/+$/, '');
  const url = `${root}/v1/projects/${encodeURIComponent(project)}/topics/${encodeURIComponent(topic)}:publish`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let auth = options.auth;
  const tokenSource = () => {
    auth ??= new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: project });
    return auth;
  };

  return {
    topic: options.topic,
    async publish(message, sizeForErrors, call = {}) {
      const target: PubSubTarget = {
        topic: options.topic,
        setting,
        ...(sizeForErrors ? { bytes: sizeForErrors } : {}),
      };
      const caller = call.signal;
      const abandoned = () =>
        new ProviderUnavailableError(`Pub/Sub publish to ${options.topic} was abandoned: the caller's time ran out`, {
          provider: 'pubsub',
          ...(caller?.reason === undefined ? {} : { cause: caller.reason }),
        });
      if (caller?.aborted) throw abandoned();
      let token: string;
      try {
        // google-auth-library's token fetch takes no signal: it is raced, not cancelled.
        token = await untilAborted(accessToken(tokenSource(), target), caller);
      } catch (error) {
        throw caller?.aborted ? abandoned() : error;
      }
      const body = JSON.stringify({
        messages: [
          {
            data: message.data.toString('base64'),
            ...(message.attributes && Object.keys(message.attributes).length ? { attributes: message.attributes } : {}),
            ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
          },
        ],
      });
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
          signal: caller ? AbortSignal.any([caller, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        throw caller?.aborted ? abandoned() : translatePubSubNetworkError(error, target, timeoutMs);
      }
      if (!response.ok) {
        const failure = { status: response.status, body: text, retryAfter: response.headers.get('retry-after') };
        throw translatePubSubFailure(failure, target);
      }
      const id = messageIdIn(text);
      if (id === undefined) {
        throw new ProviderUnavailableError(`Pub/Sub publish to ${options.topic} answered without a message id`, {
          provider: 'pubsub',
        });
      }
      return id;
    },
  };
}

function messageIdIn(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { messageIds?: unknown[] }).messageIds?.[0];
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

async function accessToken(source: AccessTokenSource, target: PubSubTarget): Promise<string> {
  let got: Awaited<ReturnType<AccessTokenSource['getAccessToken']>>;
  try {
    got = await source.getAccessToken();
  } catch (error) {
    throw translateTokenError(error, target);
  }
  const token = typeof got === 'string' ? got : got?.token;
  if (!token) throw translateTokenError(new Error('the credentials gave no access token'), target);
  return token;
}
