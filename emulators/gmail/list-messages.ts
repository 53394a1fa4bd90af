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

/**
 * users.messages.list over the messages stored for the token's user (a sent message lands in its sender's mailbox),
 * newest first, as the discovery document's ListMessagesResponse: `messages` holds only `id` and `threadId`, and is
 * absent when nothing matched. `includeSpamTrash` changes nothing: the emulator has no spam or trash.
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
  const matches = store
    .filter((m) => m.user.toLowerCase() === user && labels.every((label) => m.labelIds.includes(label)) && query(m))
    .reverse();
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
