import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../common/faults.ts';
import { badRequest, type GoogleError, sendGoogleError, sendJson } from './google-errors.ts';
import { authorizeMailbox, INSERT_METHOD_SCOPES } from './oauth.ts';
import { GMAIL_INSERT_MAX_BYTES, readMessageRequest } from './send-request.ts';
import type { GmailStoredMessage } from './server.ts';
import type { TokenStore } from './token-store.ts';

export type InsertMethod = 'insert' | 'import';

/**
 * The system labels a message may be put in when inserted or imported: those the labels guide says can be applied
 * by hand, and SENT and DRAFT, which backup tools restore with (GAM-team/got-your-back's `system_labels`). The
 * emulator has no user labels, so any other id is refused as Gmail refuses an unknown one ("Invalid label: CHAT").
 */
const INSERTABLE_LABELS = new Set([
  'INBOX',
  'SPAM',
  'TRASH',
  'UNREAD',
  'STARRED',
  'IMPORTANT',
  'SENT',
  'DRAFT',
  'CATEGORY_PERSONAL',
  'CATEGORY_SOCIAL',
  'CATEGORY_PROMOTIONS',
  'CATEGORY_UPDATES',
  'CATEGORY_FORUMS',
]);

/** The discovery document's `internalDateSource` defaults: insert stamps the time received, import the Date header. */
const DEFAULT_DATE_SOURCE: Record<InsertMethod, string> = { insert: 'receivedTime', import: 'dateHeader' };

const ADDRESS = /[^\s<>",;:()]+@[^\s<>",;:()]+/g;

function internalDate(source: string, dateHeader: string | undefined, now: Date): Date | GoogleError {
  if (source === 'receivedTime') return now;
  if (source !== 'dateHeader') {
    return badRequest(`Invalid value at 'internal_date_source', "${source}"`, 'invalid');
  }
  // "when valid": a missing or unreadable Date header falls back to the time received.
  const parsed = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  return Number.isNaN(parsed) ? now : new Date(parsed);
}

/**
 * users.messages.insert (IMAP APPEND-like) and users.messages.import (delivery-like): the raw MIME goes into the
 * token user's own mailbox with the `labelIds` given, and nothing is sent. Without INBOX it is only in All Mail, as
 * in Gmail. SENT is added when the From header names the user (labels guide). Import's spam classification and
 * `processForCalendar` are not played; `deleted=true` (Vault-only mail) is answered 501.
 */
export async function handleInsertMessage(
  tokens: TokenStore,
  store: GmailStoredMessage[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: { userId: string; method: InsertMethod; mode: 'json' | 'upload'; jsonPayloadLimitBytes?: number },
): Promise<void> {
  const token = authorizeMailbox(tokens, req, url, target.userId, INSERT_METHOD_SCOPES);
  if ('status' in token) {
    await readBody(req);
    return sendGoogleError(res, token);
  }
  const limits = { maxUploadBytes: GMAIL_INSERT_MAX_BYTES, jsonPayloadLimitBytes: target.jsonPayloadLimitBytes };
  const request = await readMessageRequest(req, url, target.mode, limits);
  if ('status' in request) return sendGoogleError(res, request);
  if (url.searchParams.get('deleted') === 'true') {
    return sendGoogleError(res, {
      status: 501,
      message: 'The emulator does not implement deleted (Vault-only) messages.',
      item: { reason: 'notImplemented' },
    });
  }
  const labelIds = [...new Set(request.labelIds ?? [])];
  const invalid = labelIds.find((label) => !INSERTABLE_LABELS.has(label));
  if (invalid !== undefined) return sendGoogleError(res, badRequest(`Invalid label: ${invalid}`, 'invalidArgument'));
  const source = url.searchParams.get('internalDateSource') ?? DEFAULT_DATE_SOURCE[target.method];
  const receivedAt = internalDate(source, request.headers.date, new Date());
  if (!(receivedAt instanceof Date)) return sendGoogleError(res, receivedAt);
  const from = (request.headers.from ?? '').match(ADDRESS) ?? [];
  if (from.some((address) => address.toLowerCase() === token.subject.toLowerCase()) && !labelIds.includes('SENT')) {
    labelIds.push('SENT');
  }
  const id = randomBytes(8).toString('hex');
  const message: GmailStoredMessage = {
    id,
    threadId: request.threadId ?? id,
    user: token.subject,
    raw: request.raw,
    headers: request.headers,
    labelIds,
    uploadType: request.uploadType,
    receivedAt,
  };
  store.push(message);
  sendJson(res, 200, { id: message.id, threadId: message.threadId, labelIds: message.labelIds });
}
