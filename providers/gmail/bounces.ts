import type { gmail_v1 } from '@googleapis/gmail';
import { resolveSecret } from '../../core/config/schema.ts';
import { AuthenticationError, ConfigurationError, isMailrouteError } from '../../core/errors.ts';
import { untilAborted } from '../../core/util/deadline.ts';
import { connectAgents, proxyConfigured } from '../http/agents.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../http/connect-watch.ts';
import { GMAIL_READONLY_SCOPE, GMAIL_ROOT_URL, type GmailApiClientOptions } from './api-client.ts';
import { describeGmailFailure, mapGmailError } from './api-errors.ts';
import type { GmailConfig } from './config.ts';
import { GmailReader, readonlyScopeRefused } from './lookup.ts';

/*
 * Gmail has no event feed: a bounce comes back as mail to the sending user (RFC 3464 `multipart/report`, or Google's
 * own "Delivery Status Notification (Failure)" from mailer-daemon@googlemail.com, "Mail Delivery Subsystem").
 * Postfix, Exim, sendmail and Yahoo send theirs from MAILER-DAEMON@<host>, Microsoft's from postmaster@<domain>.
 * - users.messages.list with `q` needs gmail.readonly (gmail.metadata may not search), users.messages.get with
 *   format=raw too (discovery document gmail/v1, revision 20260727); `raw` is base64url.
 * - Gmail search matches `from:` against the sender's name and address, case-insensitively; `{a b}` means a OR b;
 *   `after:` takes epoch seconds (developers.google.com/workspace/gmail/api/guides/filtering).
 * - Listing leaves out SPAM and TRASH by default: a bounce filed as spam is most likely backscatter, not ours.
 */

/** Who sends bounces, as `from:` terms (Gmail matches whole words of the name or the address). */
const DEFAULT_SENDERS = ['mailer-daemon', 'postmaster'];
/** users.messages.list's `maxResults` ceiling: fewer calls, the listing holds ids only. */
const MAX_PAGE_SIZE = 500;

export interface GmailBounceOptions {
  /** Only mail Gmail received from this time on (to the second: the second itself is included). */
  after?: Date;
  /** At most this many messages, the oldest first. */
  maxMessages?: number;
  /** Ids per users.messages.list page; default and at most 500. */
  pageSize?: number;
  /** API base URL; default the entry's `endpoint`, else Google's. */
  endpoint?: string;
  /** Senders searched for as `from:` terms (an address, part of one, or a name); default mailer-daemon, postmaster. */
  senders?: string[];
  /** Stops the polling: the current request is abandoned and the generator throws the signal's reason. */
  signal?: AbortSignal;
}

export interface GmailBounceMessage {
  /** Gmail's message id: the same message listed again (the `after` second repeats) has the same id. */
  id: string;
  /** The message as Gmail stored it, for `dsnEvents()`. */
  raw: Buffer;
  /** When Gmail received it, epoch milliseconds as a string (Gmail's `internalDate`). */
  internalDate: string;
}

/**
 * The bounces in the sending user's mailbox, read through the Gmail API as the entry's service account, oldest
 * first, so a poller can carry `after` forward from the last one it handled (and skip ids it has seen). Needs
 * https://www.googleapis.com/auth/gmail.readonly granted to the service account's domain-wide delegation, besides
 * gmail.send: a refused scope throws a ConfigurationError naming it; throttling, outages and other failures the
 * project's error classes, as a send would.
 * @example
 * for await (const bounce of gmailBounces(entry, { after: lastPoll })) events.push(...(await dsnEvents(bounce.raw)));
 */
export async function* gmailBounces(
  entry: GmailConfig,
  options: GmailBounceOptions = {},
): AsyncGenerator<GmailBounceMessage> {
  const q = bounceQuery(options);
  if (q === undefined) return;
  const clientOptions = readerOptions(entry);
  const rootUrl = (options.endpoint ?? entry.endpoint ?? GMAIL_ROOT_URL).replace(/\/*$/, '/');
  const reader = new GmailReader(clientOptions, rootUrl);
  const { signal } = options;
  const fail = (error: unknown) => (signal?.aborted ? signal.reason : failure(error, entry, clientOptions.user));
  // retry: false, because asking again (later) is the poller's decision.
  const get = (id: string) => (gmail: gmail_v1.Gmail) =>
    abortable(() => gmail.users.messages.get({ userId: 'me', id, format: 'raw' }, { retry: false, signal }), signal);
  try {
    const ids = await listIds(reader, q, options.pageSize, signal).catch((error: unknown) => {
      throw fail(error);
    });
    let yielded = 0;
    // Gmail lists the newest first: from the end, so a cut by maxMessages leaves the newest for the next poll.
    for (const id of ids.reverse()) {
      if (options.maxMessages !== undefined && yielded >= options.maxMessages) return;
      const message = await reader.call(get(id)).catch((error: unknown) => {
        // Deleted since it was listed: nothing to read.
        if (describeGmailFailure(error).status === 404) return undefined;
        throw fail(error);
      });
      if (!message?.data.raw) continue;
      yielded++;
      yield { id, raw: Buffer.from(message.data.raw, 'base64url'), internalDate: message.data.internalDate ?? '' };
    }
  } finally {
    clientOptions.agents?.destroy();
  }
}

/** A request that is not started once `signal` has aborted, and abandoned when it aborts meanwhile. */
function abortable<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  signal?.throwIfAborted();
  return untilAborted(start(), signal);
}

/**
 * `{from:mailer-daemon from:postmaster} after:<epoch seconds>`, searching every folder but spam and trash; undefined
 * for no senders at all (an empty query would list the whole mailbox).
 */
function bounceQuery(options: GmailBounceOptions): string | undefined {
  const senders = (options.senders ?? DEFAULT_SENDERS)
    .map((sender) => sender.replace(/"/g, '').trim())
    .filter(Boolean)
    .map((sender) => (/\s/.test(sender) ? `from:"${sender}"` : `from:${sender}`));
  if (senders.length === 0) return undefined;
  const terms = [senders.length > 1 ? `{${senders.join(' ')}}` : senders[0]!];
  if (options.after) terms.push(`after:${Math.floor(options.after.getTime() / 1000)}`);
  return terms.join(' ');
}

/** Every id `q` matches, page after page, newest first (an id a later page repeats is kept once). */
async function listIds(reader: GmailReader, q: string, pageSize: number | undefined, signal?: AbortSignal) {
  const ids = new Set<string>();
  const maxResults = Math.min(Math.max(1, pageSize ?? MAX_PAGE_SIZE), MAX_PAGE_SIZE);
  let pageToken: string | undefined;
  do {
    const params = { userId: 'me', q, maxResults, pageToken };
    const page = await reader.call((gmail) =>
      abortable(() => gmail.users.messages.list(params, { retry: false, signal }), signal),
    );
    for (const message of page.data.messages ?? []) if (message.id) ids.add(message.id);
    pageToken = page.data.nextPageToken ?? undefined;
  } while (pageToken);
  return [...ids];
}

/** The adapter's service-account settings, for a client of its own (gmail.readonly, not gmail.send). */
function readerOptions(entry: GmailConfig): GmailApiClientOptions {
  const account = entry.serviceAccount;
  if (!account || !entry.user) {
    const issues = [
      ...(account ? [] : [{ path: 'serviceAccount', message: 'is required to read bounces from the mailbox' }]),
      ...(entry.user ? [] : [{ path: 'user', message: 'is required to read bounces from the mailbox' }]),
    ];
    throw new ConfigurationError(`${entry.name}: reading bounces through the Gmail API needs a service account`, {
      provider: entry.provider,
      mode: entry.mode,
      issues,
    });
  }
  return {
    clientEmail: account.clientEmail,
    // A key copied from the JSON key file into an environment variable keeps its newlines escaped.
    privateKey: resolveSecret(account.privateKey, 'serviceAccount.privateKey').replace(/\\n/g, '\n'),
    user: entry.user,
    tokenUrl: account.tokenUrl,
    // Bounded connections, unless gaxios is to go through a proxy of the environment (an agent would bypass it).
    ...(proxyConfigured() ? {} : { agents: connectAgents(entry.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) }),
  };
}

/** The project's error for a failed list or get; a refused gmail.readonly names what the admin has to grant. */
function failure(error: unknown, entry: GmailConfig, user: string): Error {
  if (isMailrouteError(error)) return error;
  const origin = { provider: entry.provider, mode: entry.mode };
  const mapped = mapGmailError(error, origin, { size: 0, limit: 0 });
  if (!(mapped instanceof AuthenticationError && readonlyScopeRefused(error))) return mapped;
  return new ConfigurationError(
    `${entry.name}: reading bounces needs the scope ${GMAIL_READONLY_SCOPE} for ${user}: in the Google Admin console, ` +
      `Security > Access and data control > API controls > Domain-wide delegation, add it to the scopes of the ` +
      `service account's client (${entry.serviceAccount?.clientEmail}), beside gmail.send (${mapped.message})`,
    {
      ...origin,
      cause: error,
      providerCode: mapped.providerCode,
      issues: [{ path: 'serviceAccount', message: `needs ${GMAIL_READONLY_SCOPE} in its domain-wide delegation` }],
    },
  );
}
