import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../common/faults.ts';
import { type GoogleError, sendGoogleError, sendJson } from './google-errors.ts';
import { authorizeMailbox, GMAIL_METADATA_SCOPE, LIST_METHOD_SCOPES } from './oauth.ts';
import { parseSearchQuery } from './search-query.ts';
import type { GmailStoredMessage } from './server.ts';
import type { TokenStore } from './token-store.ts';

/** users.messages.list `maxResults`: default 100, at most 500 (discovery document). */
const DEFAULT_MAX_RESULTS = 100;
const MAX_RESULTS = 500;

/**
 * What Google answers `q` with a token carrying gmail.metadata, even next to a broader scope
 * (googleapis/google-api-python-client#582, googleworkspace/cli#200).
 */
const METADATA_SCOPE_QUERY: GoogleError = {
  status: 403,
  message: "Metadata scope does not support 'q' parameter",
  item: { reason: 'forbidden' },
};

/** Gmail leaves these out of a listing unless `includeSpamTrash` is true or the request names them. */
const SPAM_TRASH = ['SPAM', 'TRASH'];

/**
 * users.messages.list over the messages stored for the token's user (a sent message lands in its sender's mailbox,
 * an inserted one in the user's), newest internal date first, as the discovery document's ListMessagesResponse:
 * `messages` holds only `id` and `threadId`, and is absent when nothing matched. Messages in SPAM or TRASH (only
 * inserted ones can be) are listed with `includeSpamTrash=true`, or when `labelIds` or `in:` names that label.
 */
export async function handleListMessages(
  tokens: TokenStore,
  store: GmailStoredMessage[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  userId: string,
): Promise<void> {
  await readBody(req);
  const token = authorizeMailbox(tokens, req, url, userId, LIST_METHOD_SCOPES);
  if ('status' in token) return sendGoogleError(res, token);
  const params = url.searchParams;
  if (params.has('q') && token.scopes.includes(GMAIL_METADATA_SCOPE)) return sendGoogleError(res, METADATA_SCOPE_QUERY);
  const query = parseSearchQuery(params.get('q') ?? '');
  if ('status' in query) return sendGoogleError(res, query);
  const labels = params.getAll('labelIds');
  const user = token.subject.toLowerCase();
  const named = (label: string) =>
    labels.includes(label) || new RegExp(`(^|[\\s{])in:${label}(?=$|[\\s}])`, 'i').test(params.get('q') ?? '');
  const hidden = params.get('includeSpamTrash') === 'true' ? [] : SPAM_TRASH.filter((label) => !named(label));
  const matches = store
    .filter(
      (m) =>
        m.user.toLowerCase() === user &&
        labels.every((label) => m.labelIds.includes(label)) &&
        !hidden.some((label) => m.labelIds.includes(label)) &&
        query(m),
    )
    // Newest first; among equal dates, the one stored last first.
    .reverse()
    .sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime());
  const max = Math.min(Number(params.get('maxResults')) || DEFAULT_MAX_RESULTS, MAX_RESULTS);
  // The emulator's page token is an offset; Google's is opaque, so callers never read into it.
  const offset = Number(params.get('pageToken')) || 0;
  const page = matches.slice(offset, offset + max);
  sendJson(res, 200, {
    ...(page.length > 0 ? { messages: page.map(({ id, threadId }) => ({ id, threadId })) } : {}),
    ...(offset + max < matches.length ? { nextPageToken: String(offset + max) } : {}),
    resultSizeEstimate: matches.length,
  });
}
