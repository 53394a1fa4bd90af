import type { gmail_v1 } from '@googleapis/gmail';
import type { AttemptRecord, SendContext, Settlement } from '../../core/contract/adapter.ts';
import { AuthenticationError, TransientError } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { callSignal, deadlinePassed, untilAborted } from '../../core/util/deadline.ts';
import { createGmailApiClient, GMAIL_READONLY_SCOPE, type GmailApiClientOptions } from './api-client.ts';
import { describeGmailFailure, isRefusedAccessToken, mapGmailError } from './api-errors.ts';

/*
 * What Google documents, and what others observed, that this lookup relies on:
 * - users.messages.list (discovery document gmail/v1, revision 20260727): scopes mail.google.com, gmail.modify,
 *   gmail.readonly, gmail.metadata; `q` "cannot be used when accessing the api using the gmail.metadata scope"
 *   (Google answers 403 forbidden "Metadata scope does not support 'q' parameter", googleworkspace/cli#104);
 *   the answer is ListMessagesResponse {messages: [{id, threadId}], nextPageToken, resultSizeEstimate}.
 * - `after:` takes epoch seconds for an exact time (developers.google.com/workspace/gmail/api/guides/filtering).
 * - Domain-wide delegation refuses a scope the admin did not grant at the token endpoint: 401 unauthorized_client
 *   "... or client not authorized for any of the scopes requested" (googleapis/google-auth-library-ruby#210).
 * - Gmail replaces the client's Message-ID on messages.send, at least for some IDs: gauteh/lieer#198 (2021, "sending
 *   with smtp preserves message-IDs and sending via the API creates new ones"), FlowCrypt/flowcrypt-browser#4273
 *   (2022), margince/margince#314 (2026, a live run). So a hit on `rfc822msgid:` proves delivery, but a miss alone
 *   proves nothing: "not delivered" is only answered when nothing at all was sent from the mailbox since the attempt.
 */

/**
 * How far before the attempt the "was anything sent since" window opens: the two clocks differ, and the sent copy's
 * date can precede the attempt record (composed, then retried, before this attempt). Wider only costs certainty.
 */
const WINDOW_MARGIN_MS = 15 * 60_000;
/** A request cut less than this long ago may still be in Gmail's hands, or not yet in its search index. */
const SETTLE_GRACE_MS = 60_000;
/** OAuth errors of a token request for a scope the delegation does not grant. */
const SCOPE_REFUSALS = new Set(['unauthorized_client', 'invalid_scope', 'access_denied']);

type Origin = { provider: string; mode: 'api' };

/**
 * Whether a failed gmail.readonly request means the scope is not granted: the token endpoint refused it (the
 * domain-wide delegation does not list it) or the API answered 403.
 */
export function readonlyScopeRefused(error: unknown): boolean {
  const failure = describeGmailFailure(error);
  return failure.token ? SCOPE_REFUSALS.has(failure.reason ?? '') : failure.status === 403;
}

/**
 * A client with a gmail.readonly token of its own: sending never needs that scope granted. When the API refuses a
 * cached token (revoked, or expired early), nothing was read or changed, so it asks once more with a new one.
 */
export class GmailReader {
  private readonly options: GmailApiClientOptions;
  private readonly rootUrl: string;
  private gmail: gmail_v1.Gmail;

  constructor(options: GmailApiClientOptions, rootUrl: string) {
    this.options = options;
    this.rootUrl = rootUrl;
    this.gmail = createGmailApiClient(options, rootUrl, GMAIL_READONLY_SCOPE).gmail;
  }

  async call<T>(request: (gmail: gmail_v1.Gmail) => Promise<T>): Promise<T> {
    try {
      return await request(this.gmail);
    } catch (error) {
      if (!isRefusedAccessToken(error)) throw error;
      this.gmail = createGmailApiClient(this.options, this.rootUrl, GMAIL_READONLY_SCOPE).gmail;
      return request(this.gmail);
    }
  }
}

/**
 * Settles an ambiguous Gmail API send by searching the sender's Sent mail, with a token of its own for
 * gmail.readonly: sending never depends on that scope being granted.
 */
export class GmailLookup {
  private readonly options: GmailApiClientOptions;
  private readonly origin: Origin;
  private readonly reader: GmailReader;

  constructor(options: GmailApiClientOptions, rootUrl: string, origin: Origin) {
    this.options = options;
    this.origin = origin;
    this.reader = new GmailReader(options, rootUrl);
  }

  async settle(prepared: PreparedMessage, attempt: AttemptRecord, context: SendContext): Promise<Settlement> {
    try {
      return await this.lookup(prepared, attempt, context);
    } catch (error) {
      const failure = describeGmailFailure(error);
      if (failure.status === undefined && deadlinePassed(context)) {
        throw new TransientError('Gmail lookup: no answer before the deadline', { ...this.origin, cause: error });
      }
      const mapped = mapGmailError(error, this.origin, { size: 0, limit: 0 });
      // Unreachable, throttled or failing: asking again later may settle it.
      if (mapped.retryable) throw mapped;
      const why =
        mapped instanceof AuthenticationError && readonlyScopeRefused(error)
          ? `the lookup needs ${GMAIL_READONLY_SCOPE} granted to the service account's domain-wide delegation for ${this.options.user}`
          : 'the lookup failed';
      return { status: 'unknown', reason: `${why} (${mapped.message})` };
    }
  }

  private async lookup(prepared: PreparedMessage, attempt: AttemptRecord, context: SendContext): Promise<Settlement> {
    const user = this.options.user;
    const hits = await this.listSent(`rfc822msgid:${prepared.messageId}`, 10, context);
    // Newest first: the oldest copy is the send that delivered it.
    const found = hits.at(-1);
    if (found?.id) {
      return {
        status: 'delivered',
        sent: {
          providerMessageId: found.id,
          accepted: prepared.envelope.to,
          rejected: [],
          details: { threadId: found.threadId },
        },
      };
    }
    const since = Math.min(attempt.firstSentAt, attempt.startedAt) - WINDOW_MARGIN_MS;
    const window = await this.listSent(`after:${Math.floor(since / 1000)}`, 1, context);
    if (window.length > 0) {
      return {
        status: 'unknown',
        reason: `no message sent by ${user} has Message-ID ${prepared.messageId}, but ${user} sent mail since the attempt began, and Gmail may replace a client's Message-ID on API sends`,
      };
    }
    if (Date.now() - attempt.startedAt < SETTLE_GRACE_MS) {
      return {
        status: 'in-progress',
        reason: 'the attempt began less than a minute ago; Gmail may not have finished it or indexed it yet',
      };
    }
    return {
      status: 'not-delivered',
      reason: `${user} sent nothing since the attempt began (no message has Message-ID ${prepared.messageId})`,
    };
  }

  /** Messages in the user's Sent mail (trashed ones too) matching `q`, newest first. */
  private async listSent(q: string, maxResults: number, context: SendContext) {
    const response = await this.reader.call((gmail) => {
      if (deadlinePassed(context)) throw new TransientError('Gmail lookup: no answer before the deadline', this.origin);
      const signal = callSignal(context);
      const params = { userId: 'me', q, labelIds: ['SENT'], includeSpamTrash: true, maxResults };
      // retry: false, because asking again (later) is the caller's decision.
      return untilAborted(gmail.users.messages.list(params, { retry: false, signal }), signal);
    });
    return response.data.messages ?? [];
  }
}
