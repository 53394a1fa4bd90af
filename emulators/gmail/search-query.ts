import type { GoogleError } from './google-errors.ts';
import { messageIdOf } from './mime-headers.ts';
import type { GmailStoredMessage } from './server.ts';

export type MessageFilter = (message: GmailStoredMessage) => boolean;

const notImplemented = (term: string): GoogleError => ({
  status: 501,
  message: `The emulator does not implement the search term "${term}".`,
  item: { reason: 'notImplemented' },
});

/** `{`, `}`, or a term whose value may be quoted (`from:"Mail Delivery Subsystem"`). */
const TOKEN = /[{}]|[^\s{}"]+:"[^"]*"|[^\s{}]+/g;

/** Words of a header or a search value, as Gmail's index splits them: letters and digits, lower-cased. */
const words = (text: string) =>
  text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

/** Whether `wanted` appears in `within` as a run of whole words. */
function containsWords(within: string[], wanted: string[]): boolean {
  if (wanted.length === 0) return false;
  for (let start = 0; start + wanted.length <= within.length; start++) {
    if (wanted.every((word, i) => within[start + i] === word)) return true;
  }
  return false;
}

function termFilter(term: string): MessageFilter | GoogleError {
  const [, operator = '', quoted, bare = ''] = /^([a-z0-9]+):(?:"([^"]*)"|(.+))$/i.exec(term) ?? [];
  const value = quoted ?? bare;
  switch (operator.toLowerCase()) {
    case 'rfc822msgid': {
      // Gmail search is case-insensitive; Message-IDs produced by real senders never differ by case alone.
      const wanted = value.replace(/^<(.*)>$/, '$1').toLowerCase();
      return (m) => messageIdOf(m.headers)?.toLowerCase() === wanted;
    }
    case 'from': {
      // The display name or the address, as whole words: `from:mailer-daemon` finds
      // "Mail Delivery Subsystem <mailer-daemon@googlemail.com>", `from:ail` does not.
      const wanted = words(value);
      return (m) => containsWords(words(m.headers.from ?? ''), wanted);
    }
    case 'in': {
      const label = value.toUpperCase();
      return (m) => m.labelIds.includes(label);
    }
    case 'after':
    case 'before': {
      if (!/^\d+$/.test(value)) return notImplemented(term);
      const at = Number(value) * 1000;
      // Inclusive `after`: a message in the very second named is matched rather than missed.
      return operator.toLowerCase() === 'after'
        ? (m) => m.receivedAt.getTime() >= at
        : (m) => m.receivedAt.getTime() < at;
    }
    default:
      return notImplemented(term);
  }
}

/**
 * The part of Gmail's search syntax (support.google.com/mail/answer/7190) the emulator implements, terms ANDed:
 * `rfc822msgid:` (angle brackets optional, as Gmail accepts), `from:` (display name or address, whole words,
 * case-insensitive; RFC 2047 encoded names are not decoded), `in:<label>`, `after:`/`before:` in epoch seconds (the
 * form the API guide gives for exact times; its date form means midnight Pacific time), and `{a b}` for "a or b".
 * Any other term is refused with 501 rather than matched loosely, so no test passes on a query the emulator ignored.
 */
export function parseSearchQuery(q: string): MessageFilter | GoogleError {
  const filters: MessageFilter[] = [];
  let group: MessageFilter[] | undefined;
  for (const token of q.match(TOKEN) ?? []) {
    if (token === '{') {
      if (group) return notImplemented('{ inside {');
      group = [];
    } else if (token === '}') {
      if (!group) return notImplemented('}');
      const alternatives = group;
      filters.push((m) => alternatives.some((filter) => filter(m)));
      group = undefined;
    } else {
      const filter = termFilter(token);
      if (typeof filter !== 'function') return filter;
      (group ?? filters).push(filter);
    }
  }
  if (group) return notImplemented('{');
  return (message) => filters.every((filter) => filter(message));
}
