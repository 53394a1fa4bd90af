import { GetAccountCommand, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { resolveSecret } from '../../core/config/schema.ts';
import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import { configuredLimits } from '../../core/contract/adapter.ts';
import { TransientError } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { callSignal, deadlinePassed } from '../../core/util/deadline.ts';
import { connectAgents } from '../http/agents.ts';
import { ConnectWatch, DEFAULT_CONNECT_TIMEOUT_MS, watchedOptions } from '../http/connect-watch.ts';
import { WatchedHttpHandler } from '../http/smithy-handler.ts';
import { translateSesError } from './api-errors.ts';
import { buildSendEmailInput } from './api-request.ts';
import type { SesConfig } from './config.ts';
import { ses } from './index.ts';

export interface SesApiAdapterOptions {
  /**
   * A client of your own (custom middleware, a shared client, tests), as nodemailer takes one. The adapter then
   * leaves region, endpoint, credentials and retries to it, and does not destroy it on close.
   */
  client?: SESv2Client;
  env?: NodeJS.ProcessEnv;
}

/**
 * Amazon SES in API mode: `SendEmail` of `@aws-sdk/client-sesv2`, with Simple content when the message fits it
 * and the composed raw MIME otherwise (see `fitsSimple` in api-request.ts).
 * @example
 * const ses = new SesApiAdapter({ name: 'ses-api', provider: 'ses', mode: 'api', region: 'eu-west-1' });
 */
export class SesApiAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'ses';
  readonly mode = 'api' as const;
  readonly capabilities: Capabilities = ses.modes.api.capabilities;
  readonly limits: Limits;
  readonly name: string;
  private readonly config: SesConfig;
  private readonly client: SESv2Client;
  private readonly ownsClient: boolean;

  constructor(config: SesConfig, options: SesApiAdapterOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.limits = configuredLimits(ses.modes.api.limits, config.limits);
    this.ownsClient = !options.client;
    this.client = options.client ?? createSesClient(config, options.env ?? process.env);
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const input = await buildSendEmailInput(prepared, this.config);
    const abortSignal = this.callSignal(context);
    const watch = new ConnectWatch();
    try {
      const output = await this.client.send(
        new SendEmailCommand(input),
        watchedOptions(watch, abortSignal ? { abortSignal } : {}),
      );
      return {
        ...(output.MessageId ? { providerMessageId: output.MessageId } : {}),
        accepted: prepared.envelope.to,
        rejected: [],
        details: { content: input.Content?.Simple ? 'Simple' : 'Raw' },
      };
    } catch (error) {
      throw translateSesError(error, { provider: this.provider, mode: this.mode }, watch);
    }
  }

  /** `GetAccount`: checks the endpoint, the region and the credentials without sending. */
  async verify(context: SendContext = {}): Promise<void> {
    const abortSignal = this.callSignal(context);
    const watch = new ConnectWatch();
    try {
      await this.client.send(new GetAccountCommand({}), watchedOptions(watch, abortSignal ? { abortSignal } : {}));
    } catch (error) {
      throw translateSesError(error, { provider: this.provider, mode: this.mode }, watch, { operation: 'GetAccount' });
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  /** The caller's signal and the deadline as one abort signal, so the SDK call ends within the caller's time. */
  private callSignal(context: SendContext): AbortSignal | undefined {
    if (context.deadline !== undefined && deadlinePassed(context)) {
      throw new TransientError('the deadline passed before the request to SES was made', {
        provider: this.provider,
        mode: this.mode,
      });
    }
    return callSignal(context);
  }
}

/**
 * The SESv2Client an entry describes: its region and endpoint, its keys (secrets resolved from `env`) or the SDK's
 * default provider chain, one attempt, connect-bounded agents. Also used by `deliverability.ts` for GetEmailIdentity.
 */
export function createSesClient(config: SesConfig, env: NodeJS.ProcessEnv): SESv2Client {
  const keys = config.credentials;
  const agents = connectAgents(config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  return new SESv2Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Without keys in the configuration the SDK's default provider chain applies (environment, profile, role).
    ...(keys
      ? {
          credentials: {
            accessKeyId: resolveSecret(keys.accessKeyId, 'credentials.accessKeyId', env),
            secretAccessKey: resolveSecret(keys.secretAccessKey, 'credentials.secretAccessKey', env),
            ...(keys.sessionToken
              ? { sessionToken: resolveSecret(keys.sessionToken, 'credentials.sessionToken', env) }
              : {}),
          },
        }
      : {}),
    // One attempt: retrying (here or elsewhere) is the router's decision, and an SDK retry after a dropped
    // connection could send a SendEmail twice.
    maxAttempts: 1,
    // smithy's connectionTimeout stops at TCP: these agents bound TLS too, so an endpoint that never completes
    // the handshake is told apart from one that took the request. The request itself is bounded by the deadline.
    // The handler reports each connection it opens to the watch of the call (watchedOptions), without an async context.
    requestHandler: new WatchedHttpHandler({ httpAgent: agents.http, httpsAgent: agents.https }),
  });
}
