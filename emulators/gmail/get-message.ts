import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../common/faults.ts';
import { badRequest, type GoogleError, sendGoogleError, sendJson } from './google-errors.ts';
import { authorizeMailbox, GET_METHOD_SCOPES, GMAIL_METADATA_SCOPE } from './oauth.ts';
import type { GmailStoredMessage } from './server.ts';
import type { TokenStore } from './token-store.ts';

const FORMATS = new Set(['minimal', 'full', 'raw', 'metadata']);

/** What Google answers format full or raw from a token carrying gmail.metadata (dacastro4/laravel-gmail#90). */
const metadataScopeFormat = (format: string): GoogleError => ({
  status: 403,
  message: `Metadata scope doesn't allow format ${format.toUpperCase()}`,
  item: { reason: 'forbidden' },
});

const NOT_FOUND: GoogleError = {
  status: 404,
  message: 'Requested entity was not found.',
  item: { reason: 'notFound' },
};

/**
 * users.messages.get in the formats the emulator implements: `minimal` (id, threadId, labelIds, sizeEstimate,
 * internalDate) and `raw` (the same and the stored MIME, base64url). `full` (the default) and `metadata` would need
 * the parsed MIME tree; they are answered 501 rather than faked. There is no `snippet` or `historyId`.
 */
export async function handleGetMessage(
  tokens: TokenStore,
  store: GmailStoredMessage[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  userId: string,
  id: string,
): Promise<void> {
  await readBody(req);
  const token = authorizeMailbox(tokens, req, url, userId, GET_METHOD_SCOPES);
  if ('status' in token) return sendGoogleError(res, token);
  // Google's enums take either case.
  const format = (url.searchParams.get('format') ?? 'full').toLowerCase();
  if (!FORMATS.has(format)) {
    return sendGoogleError(
      res,
      badRequest(`Invalid value at 'format', "${url.searchParams.get('format')}"`, 'invalid'),
    );
  }
  if ((format === 'full' || format === 'raw') && token.scopes.includes(GMAIL_METADATA_SCOPE)) {
    return sendGoogleError(res, metadataScopeFormat(format));
  }
  const user = token.subject.toLowerCase();
  const message = store.find((m) => m.id === id && m.user.toLowerCase() === user);
  if (!message) return sendGoogleError(res, NOT_FOUND);
  if (format !== 'minimal' && format !== 'raw') {
    return sendGoogleError(res, {
      status: 501,
      message: `The emulator does not implement format ${format.toUpperCase()}.`,
      item: { reason: 'notImplemented' },
    });
  }
  sendJson(res, 200, {
    id: message.id,
    threadId: message.threadId,
    labelIds: message.labelIds,
    sizeEstimate: message.raw.length,
    // int64 fields travel as JSON strings in Google's APIs.
    internalDate: String(message.receivedAt.getTime()),
    ...(format === 'raw' ? { raw: message.raw.toString('base64url') } : {}),
  });
}
