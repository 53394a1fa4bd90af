import { GoogleAuth } from 'google-auth-library';
import { createPubSubProducer, type PubSubProducer } from '../../client/gcp.ts';
import { createPubSubPublisher, PUBSUB_SCOPE, type PubSubPublisher, parseTopicPath } from '../../client/gcp-pubsub.ts';
import { type MailrouteConfig, parseConfig } from '../../core/config.ts';
import { positiveIntSetting } from '../../core/env-settings.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { queueDeadlines } from '../../core/queue-batch.ts';
import { describeSecretRef, isCloudSecretRef, secretRefsIn } from '../../core/secret-refs.ts';
import { registerSecret } from '../../core/secrets.ts';
import { createMailer } from '../../index.ts';
import { log, mailerLogger } from './log.ts';

/** The variable infra/gcp mounts the shared state store's Redis URL in (a Secret Manager secret). */
export const REDIS_URL_VARIABLE = 'MAILROUTE_STORE_REDIS_URL';

let mailer: Promise<Mailer> | undefined;

/** The instance's mailer, built once from `MAILROUTE_CONFIG`; a failed cold start is tried again by the next call. */
export function instanceMailer(env = process.env): Promise<Mailer> {
  mailer ??= buildMailer(env).catch((error: unknown) => {
    mailer = undefined;
    throw error;
  });
  return mailer;
}

async function buildMailer(env: NodeJS.ProcessEnv): Promise<Mailer> {
  if (!env.MAILROUTE_CONFIG) throw new ConfigurationError('no configuration: set MAILROUTE_CONFIG (JSON or YAML)');
  const config = withRedisStore(parseConfig(env.MAILROUTE_CONFIG, 'MAILROUTE_CONFIG'), env);
  // Cloud Functions mounts Secret Manager secrets as environment variables: `{ env }` is the reference to use.
  const issues = secretRefsIn(config)
    .filter(({ ref }) => isCloudSecretRef(ref))
    .map(({ path, ref }) => ({
      path,
      message: `${describeSecretRef(ref)} is not read on Google Cloud: mount the secret with --set-secrets (secret_environment_variables) and use { env: NAME }`,
    }));
  if (issues.length) {
    throw new ConfigurationError(`MAILROUTE_CONFIG: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      issues,
    });
  }
  return createMailer(config, { logger: mailerLogger });
}

/**
 * The deployment's shared state store: when `MAILROUTE_STORE_REDIS_URL` holds a Redis URL (infra/gcp mounts it
 * from Secret Manager) and the configuration names no `store` of its own, `{ type: 'redis', url: { env } }`. A
 * `store` in the configuration wins. The URL (and its password) is registered for redaction at once and never
 * logged; a value that is not a `redis://` or `rediss://` URL is a ConfigurationError naming the variable only.
 */
export function withRedisStore(config: MailrouteConfig, env: NodeJS.ProcessEnv = process.env): MailrouteConfig {
  const url = env[REDIS_URL_VARIABLE];
  if (!url) return config;
  protectRedisUrl(url);
  if (config.store) {
    log('INFO', 'state store named by the configuration', { type: config.store.type, ignored: REDIS_URL_VARIABLE });
    return config;
  }
  return { ...config, store: { type: 'redis', url: { env: REDIS_URL_VARIABLE } } };
}

/** Registers the URL and its password as secrets; refuses (without echoing it) what is not a Redis URL. */
function protectRedisUrl(url: string): void {
  registerSecret(url);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // The parser's error carries the input: it is not passed on.
  }
  if (parsed?.password) {
    registerSecret(parsed.password);
    try {
      registerSecret(decodeURIComponent(parsed.password));
    } catch {
      // not percent-encoded text: the raw form is registered
    }
  }
  if (parsed?.protocol !== 'redis:' && parsed?.protocol !== 'rediss:') {
    const message = 'is not a redis:// or rediss:// URL (its value is not shown)';
    throw new ConfigurationError(`${REDIS_URL_VARIABLE} ${message}`, {
      issues: [{ path: REDIS_URL_VARIABLE, message }],
    });
  }
}

const auths = new Map<string, GoogleAuth>();
const publishers = new Map<string, PubSubPublisher>();
let producer: { name: string; producer: PubSubProducer } | undefined;

/** One GoogleAuth per project (its token is cached): the runtime service account's, from the metadata server. */
function authFor(project: string): GoogleAuth {
  const auth = auths.get(project) ?? new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: project });
  auths.set(project, auth);
  return auth;
}

function topicIn(
  env: NodeJS.ProcessEnv,
  variable: string,
  purpose: string,
): { name: string; project: string; topic: string } {
  const name = env[variable];
  if (!name)
    throw new ConfigurationError(`${variable} is not set: ${purpose}`, {
      issues: [{ path: variable, message: 'is not set' }],
    });
  return { name, ...parseTopicPath(name, variable) };
}

const apiRoot = (env: NodeJS.ProcessEnv) =>
  env.MAILROUTE_PUBSUB_API_ROOT ? { apiRoot: env.MAILROUTE_PUBSUB_API_ROOT } : {};

/** The publisher of the topic where permanent failures go (`MAILROUTE_FAILED_TOPIC`, a topic's full name). */
export function failedTopic(env = process.env): PubSubPublisher {
  const { name, project } = topicIn(env, 'MAILROUTE_FAILED_TOPIC', 'nowhere to put a permanent failure');
  const publisher =
    publishers.get(name) ??
    createPubSubPublisher({ topic: name, setting: 'MAILROUTE_FAILED_TOPIC', auth: authFor(project), ...apiRoot(env) });
  publishers.set(name, publisher);
  return publisher;
}

/** The producer for the send topic (`MAILROUTE_SEND_TOPIC`), for the HTTP handler's enqueue mode. */
export function sendTopic(env = process.env): PubSubProducer {
  const { name, project, topic } = topicIn(env, 'MAILROUTE_SEND_TOPIC', 'enqueue mode needs the send topic');
  if (producer?.name !== name) {
    producer = { name, producer: createPubSubProducer({ project, topic, auth: authFor(project), ...apiRoot(env) }) };
  }
  return producer.producer;
}

/**
 * Epoch ms by which a send must have answered: the invocation's start plus the function's timeout
 * (`MAILROUTE_TIMEOUT_SECONDS`, set to the same value as the function's, default 60) less a margin
 * (`MAILROUTE_DEADLINE_MARGIN_MS`, default 1000) for the failed-topic publish and the answer itself.
 */
export function deadlineOf(started: number, env = process.env): number {
  const timeoutMs = positiveIntSetting(env, 'MAILROUTE_TIMEOUT_SECONDS', 60) * 1000;
  return started + timeoutMs - positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000);
}

/**
 * The queue function's two bounds: the send deadline (`deadlineOf`), and the failed-topic publish's, half the
 * margin later; the other half is left for the answer, so a failed topic that does not answer gets the event a
 * 500 (redelivered) before the function's timeout.
 */
export function queueDeadlinesOf(started: number, env = process.env) {
  const timeoutMs = positiveIntSetting(env, 'MAILROUTE_TIMEOUT_SECONDS', 60) * 1000;
  return queueDeadlines(started + timeoutMs, positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000));
}
