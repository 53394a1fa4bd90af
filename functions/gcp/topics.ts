import { GoogleAuth } from 'google-auth-library';
import { createPubSubProducer, type PubSubProducer } from '../../client/gcp.ts';
import { createPubSubPublisher, PUBSUB_SCOPE, type PubSubPublisher, parseTopicPath } from '../../client/gcp-pubsub.ts';
import { ConfigurationError } from '../../core/errors.ts';

const auths = new Map<string, GoogleAuth>();
const publishers = new Map<string, PubSubPublisher>();
let producer: { name: string; producer: PubSubProducer } | undefined;

/** One GoogleAuth per project (its token is cached): the runtime service account's, from the metadata server. */
function authFor(project: string): GoogleAuth {
  const auth = auths.get(project) ?? new GoogleAuth({ scopes: [PUBSUB_SCOPE], projectId: project });
  auths.set(project, auth);
  return auth;
}

/** The topic a variable names (its full name), with what a client of it needs: auth and the API root. */
function topicIn(env: NodeJS.ProcessEnv, variable: string, purpose: string) {
  const name = env[variable];
  if (!name) {
    const issues = [{ path: variable, message: 'is not set' }];
    throw new ConfigurationError(`${variable} is not set: ${purpose}`, { issues });
  }
  const { project, topic } = parseTopicPath(name, variable);
  const apiRoot = env.MAILROUTE_PUBSUB_API_ROOT ? { apiRoot: env.MAILROUTE_PUBSUB_API_ROOT } : {};
  return { name, project, topic, client: { auth: authFor(project), ...apiRoot } };
}

/** The publisher of the topic where permanent failures go (`MAILROUTE_FAILED_TOPIC`, a topic's full name). */
export function failedTopic(env = process.env): PubSubPublisher {
  const { name, client } = topicIn(env, 'MAILROUTE_FAILED_TOPIC', 'nowhere to put a permanent failure');
  const publisher =
    publishers.get(name) ?? createPubSubPublisher({ topic: name, setting: 'MAILROUTE_FAILED_TOPIC', ...client });
  publishers.set(name, publisher);
  return publisher;
}

/** The producer for the send topic (`MAILROUTE_SEND_TOPIC`), for the HTTP handler's enqueue mode. */
export function sendTopic(env = process.env): PubSubProducer {
  const { name, project, topic, client } = topicIn(env, 'MAILROUTE_SEND_TOPIC', 'enqueue mode needs the send topic');
  if (producer?.name !== name) producer = { name, producer: createPubSubProducer({ project, topic, ...client }) };
  return producer.producer;
}
