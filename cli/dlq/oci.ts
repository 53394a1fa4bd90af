import { type AuthenticationDetailsProvider, ConfigFileAuthenticationDetailsProvider } from 'oci-common';
import type { QueueClient } from 'oci-queue';
import { createOciQueueClient, createOciQueueProducer, type OciQueueProducer } from '../../client/oci.ts';
import { translateOciQueueError } from '../../client/oci-errors.ts';
import { OCI_API_KEY_VARIABLES, ociAuthFromEnv } from '../../client/oci-sdk.ts';
import { ConfigurationError } from '../../core/errors.ts';
import {
  type AdapterOptions,
  countOf,
  type DeadLetter,
  type DlqAdapter,
  field,
  isoTime,
  messageOf,
} from './adapter.ts';

/**
 * oci-common's retrier prints its own notice with `console.warn` when a request fails ("Request cannot be
 * retried...", "All retry attempts have exhausted..."), on top of the error it throws, which the replay reports
 * itself: on a terminal it would break the progress bar. Those two notices are dropped, nothing else.
 */
const RETRIER_NOTICE = /^(Request cannot be retried\. Not Retrying\.|All retry attempts have exhausted\.)/;
function quietRetrierNotices(): void {
  const warn = console.warn;
  if ((warn as { mailrouteQuiet?: boolean }).mailrouteQuiet) return;
  const quiet = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && RETRIER_NOTICE.test(args[0])) return;
    warn.apply(console, args);
  };
  Object.assign(quiet, { mailrouteQuiet: true });
  console.warn = quiet;
}

/** Seconds a GetMessages waits for messages (long polling) before the queue counts as drained. */
const WAIT_SECONDS = 1;

/**
 * Who signs: the API key in `MAILROUTE_OCI_*` or a resource principal (as the function does, client/oci-sdk.ts),
 * else the OCI CLI's configuration file (`OCI_CLI_CONFIG_FILE`, default `~/.oci/config`; profile
 * `OCI_CLI_PROFILE`, default `DEFAULT`).
 */
function authFrom(env: NodeJS.ProcessEnv): AuthenticationDetailsProvider {
  if (env.OCI_RESOURCE_PRINCIPAL_VERSION || OCI_API_KEY_VARIABLES.some((name) => env[name])) return ociAuthFromEnv(env);
  try {
    return new ConfigFileAuthenticationDetailsProvider(
      env.OCI_CLI_CONFIG_FILE || undefined,
      env.OCI_CLI_PROFILE || 'DEFAULT',
    );
  } catch (error) {
    const message = `no OCI identity: set ${OCI_API_KEY_VARIABLES.join(', ')}, or have an OCI CLI configuration (~/.oci/config): ${(error as Error).message}`;
    throw new ConfigurationError(message, { cause: error, issues: [{ path: 'OCI_CLI_CONFIG_FILE', message }] });
  }
}

/**
 * An OCI queue holding dead letters: the failed queue (`MAILROUTE_FAILED_QUEUE_ID`: the original content on
 * channel `mailroute-failed`, custom properties `reason`, `errorCode`, `sourceMessageId`, `deliveryCount`;
 * functions/oci/failed-queue.ts). Replayed through the OCI Queue producer (client/oci.ts) to `--to <queue OCID>`.
 * A queue's messages endpoint is its own (GetQueue's `messagesEndpoint`): `--endpoint` for the dead-letter
 * queue, `--to-endpoint` for the send queue when it differs. `--channel` reads one channel only.
 */
export function createAdapter(options: AdapterOptions): DlqAdapter {
  const { from, to, env } = options;
  const endpoint = options.endpoint;
  if (!endpoint) {
    const message =
      "is required: the queue's messages endpoint (oci queue queue get --queue-id OCID --query 'data.\"messages-endpoint\"')";
    throw new ConfigurationError(`--endpoint ${message}`, { issues: [{ path: '--endpoint', message }] });
  }
  quietRetrierNotices();
  const auth = authFrom(env);
  const dlq = createOciQueueClient(endpoint, auth);
  const toEndpoint = options.toEndpoint ?? endpoint;
  let sendClient: QueueClient | undefined;
  let producer: OciQueueProducer | undefined;
  const translate = (error: unknown, operation: string) => translateOciQueueError(error, { operation, queueId: from });

  return {
    source: `oci:${from}`,
    ...(to ? { target: `oci:${to}` } : {}),
    maxBatch: 20,
    maxLeaseSeconds: 43_200,
    async receive(max, leaseSeconds) {
      try {
        const got = await dlq.getMessages({
          queueId: from,
          limit: Math.min(max, 20),
          visibilityInSeconds: leaseSeconds,
          timeoutInSeconds: WAIT_SECONDS,
          ...(options.channel ? { channelFilter: options.channel } : {}),
        });
        return got.getMessages.messages.map((m): DeadLetter => {
          const properties = m.metadata?.customProperties ?? {};
          const reason = field(properties.reason);
          const errorCode = field(properties.errorCode);
          const sourceMessageId = field(properties.sourceMessageId);
          const receiveCount = countOf(properties.deliveryCount);
          const firstSeen = isoTime(m.createdAt);
          return {
            // The SDK parses the id as a number; the text keeps what JSON carried up to 2^53.
            id: String(m.id),
            body: m.content,
            handle: m.receipt,
            ...(reason ? { reason } : {}),
            ...(errorCode ? { errorCode } : {}),
            ...(sourceMessageId ? { sourceMessageId } : {}),
            ...(receiveCount ? { receiveCount } : {}),
            ...(firstSeen ? { firstSeen } : {}),
          };
        });
      } catch (error) {
        throw translate(error, 'GetMessages');
      }
    },
    async requeue(letter) {
      if (!to) throw new ConfigurationError('replay needs --to (the send queue OCID)');
      sendClient ??= toEndpoint === endpoint ? dlq : createOciQueueClient(toEndpoint, auth);
      producer ??= createOciQueueProducer({ queueId: to, client: sendClient });
      return (await producer.enqueue(messageOf(letter) as never)).messageId;
    },
    async remove(letter) {
      try {
        await dlq.deleteMessage({ queueId: from, messageReceipt: letter.handle });
      } catch (error) {
        throw translate(error, 'DeleteMessage');
      }
    },
    async release(letter) {
      try {
        await dlq.updateMessage({
          queueId: from,
          messageReceipt: letter.handle,
          updateMessageDetails: { visibilityInSeconds: 0 },
        });
      } catch (error) {
        // A receipt whose lease ran out: the message is visible again already.
        if ((error as { statusCode?: number }).statusCode === 404) return;
        throw translate(error, 'UpdateMessage');
      }
    },
    async close() {
      dlq.close();
      if (sendClient && sendClient !== dlq) sendClient.close();
    },
  };
}
