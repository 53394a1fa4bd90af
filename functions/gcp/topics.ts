import type { GoogleAuth } from 'google-auth-library';
import type { PubSubProducer } from '../../client/gcp.ts';
import type { PubSubPublisher } from '../../client/gcp-pubsub.ts';
import { ConfigurationError } from '../../core/errors.ts';

const auths = new Map<string, GoogleAuth>();
const publishers = new Map<string, PubSubPublisher>();
let producer: { name: string; producer: PubSubProducer } | undefined;

/**
 * google-auth-library and the Pub/Sub clients, loaded with the first message published (a dead letter, an enqueued
 * send): most instances never publish one.
 */
const pubsub = () =>
  Promise.all([import('google-auth-library'), import('../../client/gcp.ts'), import('../../client/gcp-pubsub.ts')]);
type PubSub = Awaited<ReturnType<typeof pubsub>>;

/** One GoogleAuth per project (its token is cached): the runtime service account's, from the metadata server. */
function authFor([{ GoogleAuth }, , { PUBSUB_SCOPE }]: PubSub, project: string): GoogleAuth {
  const auth = auths.get(project) ?? new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: project });
  auths.set(project, auth);
  return auth;
}

/** The topic a variable names (its full name), with what a client of it needs: auth and the API root. */
async function topicIn(env: NodeJS.ProcessEnv, variable: string, purpose: string) {
  const name = env[variable];
  if (!name) {
    const issues = [{ path: variable, message: 'is not set' }];
    throw new ConfigurationError(`${variable} is not set: ${purpose}`, { issues });
  }
  const modules = await pubsub();
  const { project, topic } = modules[2].parseTopicPath(name, variable);
  const apiRoot = env.MAILROUTE_PUBSUB_API_ROOT ? { apiRoot: env.MAILROUTE_PUBSUB_API_ROOT } : {};
  return { modules, name, project, topic, client: { auth: authFor(modules, project), ...apiRoot } };
}

/** The publisher of the topic where permanent failures go (`MAILROUTE_FAILED_TOPIC`, a topic's full name). */
export async function failedTopic(env = process.env): Promise<PubSubPublisher> {
  const { modules, name, client } = await topicIn(env, 'MAILROUTE_FAILED_TOPIC', 'nowhere to put a permanent failure');
  const publisher =
    publishers.get(name) ??
    modules[2].createPubSubPublisher({ topic: name, setting: 'MAILROUTE_FAILED_TOPIC', ...client });
  publishers.set(name, publisher);
  return publisher;
}

/** The producer for the send topic (`MAILROUTE_SEND_TOPIC`), for the HTTP handler's enqueue mode. */
export async function sendTopic(env = process.env): Promise<PubSubProducer> {
  const { modules, name, project, topic, client } = await topicIn(
    env,
    'MAILROUTE_SEND_TOPIC',
    'enqueue mode needs the send topic',
  );
  if (producer?.name !== name) {
    producer = { name, producer: modules[1].createPubSubProducer({ project, topic, ...client }) };
  }
  return producer.producer;
}
