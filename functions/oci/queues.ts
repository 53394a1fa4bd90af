import type { OciQueueProducer } from '../../client/oci.ts';
import { ConfigurationError } from '../../core/errors.ts';

/** The queue (`<prefix>_ID`) and its messages endpoint (`<prefix>_ENDPOINT`); a missing one is named. */
export function queueOf(env: NodeJS.ProcessEnv, prefix: 'MAILROUTE_FAILED_QUEUE' | 'MAILROUTE_QUEUE', purpose: string) {
  const [idVar, endpointVar] = [`${prefix}_ID`, `${prefix}_ENDPOINT`];
  const [queueId, endpoint] = [env[idVar], env[endpointVar]];
  if (!queueId || !endpoint) {
    throw new ConfigurationError(`${idVar} and ${endpointVar} must be set: ${purpose}`, {
      issues: [queueId ? endpointVar : idVar].map((path) => ({ path, message: 'is not set' })),
    });
  }
  return { queueId, endpoint };
}

/**
 * HTTP enqueue mode: the checked message onto the send queue (`MAILROUTE_QUEUE_ID` at `MAILROUTE_QUEUE_ENDPOINT`)
 * through the producer other services use (client/oci.ts), so it is validated and its size checked the same way.
 */
export function sendQueueEnqueuer(env: NodeJS.ProcessEnv = process.env): (body: string) => Promise<string> {
  let producer: OciQueueProducer | undefined;
  return async (body) => {
    const { queueId, endpoint } = queueOf(env, 'MAILROUTE_QUEUE', 'enqueue mode needs the send queue');
    if (!producer) {
      // The OCI SDK loads with the first enqueued send.
      const [{ createOciQueueProducer }, { ociAuthFromEnv }] = await Promise.all([
        import('../../client/oci.ts'),
        import('../../client/oci-sdk.ts'),
      ]);
      producer ??= createOciQueueProducer({ queueId, endpoint, authenticationDetailsProvider: ociAuthFromEnv(env) });
    }
    return (await producer.enqueue(JSON.parse(body))).messageId;
  };
}
