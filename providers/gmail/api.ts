import { resolveSecret } from '../../core/config/schema.ts';
import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import { configuredLimits } from '../../core/contract/adapter.ts';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { AmbiguousDeliveryError, isMailrouteError, TransientError } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { callSignal, deadlinePassed, untilAborted } from '../../core/util/deadline.ts';
import { neverConnected } from '../../core/util/network.ts';
import { connectAgents, proxyConfigured } from '../http/agents.ts';
import { ConnectWatch, DEFAULT_CONNECT_TIMEOUT_MS, WATCH_OPTION } from '../http/connect-watch.ts';
import { unsentFailure } from '../http/unsent.ts';
import { createGmailApiClient, GMAIL_ROOT_URL, type GmailApiClient, type GmailApiClientOptions } from './api-client.ts';
import { describeGmailFailure, isRefusedAccessToken, mapGmailError } from './api-errors.ts';
import { withBccHeader } from './bcc-header.ts';
import type { GmailConfig } from './config.ts';
import { gmail } from './index.ts';
import { GmailLookup } from './lookup.ts';

/**
 * Gmail API mode: users.messages.send with the composed MIME as a `message/rfc822` media upload, as a service
 * account acting for `user` through domain-wide delegation. The upload path is used for every size: its limit is
 * the documented one (the JSON `{raw}` path's is not), and it carries the bytes without base64.
 */
export class GmailApiAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'gmail';
  readonly mode = 'api' as const;
  readonly capabilities: Capabilities = gmail.modes.api.capabilities;
  readonly limits: Limits;
  readonly name: string;
  private readonly clientOptions: GmailApiClientOptions;
  private readonly rootUrl: string;
  private client: GmailApiClient;
  /** Only with `lookup`: without it the core declares an ambiguous send ambiguous, having nothing to ask. */
  readonly settle?: Adapter['settle'];

  constructor(config: GmailConfig) {
    this.name = config.name;
    this.limits = configuredLimits(gmail.modes.api.limits, config.limits);
    const account = config.serviceAccount;
    if (!account || !config.user) throw unvalidatedEntry(config, account ? 'user' : 'serviceAccount');
    const pem = resolveSecret(account.privateKey, 'serviceAccount.privateKey');
    this.clientOptions = {
      clientEmail: account.clientEmail,
      // A key copied from the JSON key file into an environment variable keeps its newlines escaped.
      privateKey: pem.replace(/\\n/g, '\n'),
      user: config.user,
      tokenUrl: account.tokenUrl,
      // Bounded connections, unless gaxios is to go through a proxy of the environment (an agent would bypass it).
      ...(proxyConfigured() ? {} : { agents: connectAgents(config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) }),
    };
    // Google's own form (trailing slash), used both client-wide and per call (uploads ignore the client-wide one).
    this.rootUrl = (config.endpoint ?? GMAIL_ROOT_URL).replace(/\/*$/, '/');
    this.client = createGmailApiClient(this.clientOptions, this.rootUrl);
    if (config.lookup) {
      const lookup = new GmailLookup(this.clientOptions, this.rootUrl, { provider: this.provider, mode: this.mode });
      this.settle = (prepared, attempt, context) => lookup.settle(prepared, attempt, context);
    }
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const origin = { provider: this.provider, mode: this.mode };
    const raw = withBccHeader(await prepared.mime(), prepared.message.bcc);
    const sent = { size: raw.length, limit: this.limits.maxEncodedBytes };
    // Gmail has no idempotency key: once the upload may have reached it, a lost answer is ambiguous.
    let handedOver = false;
    // Per upload: whether its connection was ever made (a failure before that sent nothing).
    let watch: ConnectWatch | undefined;
    const upload = () => {
      watch = new ConnectWatch();
      return this.upload(raw, context, watch);
    };
    try {
      // The token first, on its own: a failure there sent nothing and is safely retried or failed over.
      await untilAborted(this.client.jwt.getAccessToken(), callSignal(context));
      handedOver = true;
      let response: Awaited<ReturnType<GmailApiAdapter['upload']>>;
      try {
        response = await upload();
      } catch (error) {
        if (!isRefusedAccessToken(error)) throw error;
        // The API refused a token the client still held as valid (revoked, or expired early): a 401 means
        // nothing was sent, so drop the cached token and send once more with a new one.
        this.client = createGmailApiClient(this.clientOptions, this.rootUrl);
        response = await upload();
      }
      return {
        providerMessageId: response.data.id ?? undefined,
        accepted: prepared.envelope.to,
        rejected: [],
        details: { threadId: response.data.threadId },
      };
    } catch (error) {
      // Raised here before a request (the deadline had passed): already the project's, and nothing was sent.
      if (isMailrouteError(error)) throw error;
      // An answer that arrived is mapped as it is, even when the deadline passed meanwhile.
      const unsent = answered(error) ? undefined : unsentFailure(error, watch, 'Gmail', origin);
      if (unsent) throw unsent;
      if (!answered(error) && handedOver && !neverConnected(error)) {
        const why = deadlinePassed(context) ? 'no answer before the deadline' : 'the connection was lost';
        throw new AmbiguousDeliveryError(`Gmail: ${why} after the message was sent; it may have been delivered`, {
          ...origin,
          cause: error,
        });
      }
      if (!answered(error) && deadlinePassed(context)) throw this.timedOut(context, error);
      throw mapGmailError(error, origin, sent);
    }
  }

  private upload(raw: Buffer, context: SendContext, watch: ConnectWatch) {
    if (deadlinePassed(context)) throw this.timedOut(context);
    const signal = callSignal(context);
    const request = this.client.gmail.users.messages.send(
      { userId: 'me', media: { mimeType: 'message/rfc822', body: raw } },
      // rootUrl again per call: googleapis-common ignores the client-level one for media uploads.
      // retry: false, because retrying (and failing over) is the router's decision.
      // The watch rides in the options to the client's interceptor (api-client.ts), which hands it to the agent.
      { rootUrl: this.rootUrl, retry: false, signal, [WATCH_OPTION]: watch } as { rootUrl: string },
    );
    return untilAborted(request, signal);
  }

  private timedOut(context: SendContext, cause?: unknown): TransientError {
    const why = context.signal?.aborted ? 'the send was aborted' : 'no answer before the deadline';
    return new TransientError(`Gmail: ${why}`, { provider: this.provider, mode: this.mode, cause });
  }

  /** Fetches an access token: proves the key, the delegation of `user` and the scope, without sending. */
  async verify(context: SendContext = {}): Promise<void> {
    try {
      await untilAborted(this.client.jwt.getAccessToken(), callSignal(context));
    } catch (error) {
      if (!answered(error) && deadlinePassed(context)) throw this.timedOut(context, error);
      throw mapGmailError(error, { provider: this.provider, mode: this.mode }, { size: 0, limit: 0 });
    }
  }

  async close(): Promise<void> {}
}

const answered = (error: unknown) => describeGmailFailure(error).status !== undefined;
