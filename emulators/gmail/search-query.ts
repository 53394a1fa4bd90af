import type { GoogleError } from './google-errors.ts';
import { messageIdOf } from './mime-headers.ts';
import type { GmailStoredMessage } from './server.ts';

export type MessageFilter = (message: GmailStoredMessage) => boolean;

const notImplemented = (term: string): GoogleError => ({
  status: 501,
  message: `The emulator does not implement the search term "${term}".`,
  item: { reason: 'notImplemented' },
});

/**
 * The part of Gmail's search syntax (support.google.com/mail/answer/7190) the emulator implements, terms ANDed:
 * `rfc822msgid:` (angle brackets optional, as Gmail accepts), `in:<label>`, and `after:`/`before:` in epoch
 * seconds (the form the API guide gives for exact times; its date form means midnight Pacific time). Any other
 * term is refused with 501 rather than matched loosely, so no test passes on a query the emulator ignored.
 */
export function parseSearchQuery(q: string): MessageFilter | GoogleError {
  const filters: MessageFilter[] = [];
  for (const term of q.trim().split(/\s+/).filter(Boolean)) {
    const [, operator = '', value = ''] = /^([a-z0-9]+):(.+)$/i.exec(term) ?? [];
    switch (operator.toLowerCase()) {
      case 'rfc822msgid': {
        // Gmail search is case-insensitive; Message-IDs produced by real senders never differ by case alone.
        const wanted = value.replace(/^<(.*)>$/, '$1').toLowerCase();
        filters.push((m) => messageIdOf(m.headers)?.toLowerCase() === wanted);
        break;
      }
      case 'in': {
        const label = value.toUpperCase();
        filters.push((m) => m.labelIds.includes(label));
        break;
      }
      case 'after':
      case 'before': {
        if (!/^\d+$/.test(value)) return notImplemented(term);
        const at = Number(value) * 1000;
        // Inclusive `after`: a message in the very second named is matched rather than missed.
        const after = operator.toLowerCase() === 'after';
        filters.push((m) => (after ? m.receivedAt.getTime() >= at : m.receivedAt.getTime() < at));
        break;
      }
      default:
        return notImplemented(term);
    }
  }
  return (message) => filters.every((filter) => filter(message));
}
