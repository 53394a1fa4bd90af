import { z } from 'zod';
import type { FieldIssue } from '../errors.ts';
import { parseAddress, toAsciiDomain } from '../message/address.ts';

/**
 * One `allowedSenders` entry, parsed: an exact address, a domain, or every subdomain of one (not the domain itself).
 * Lower-case, the domain in ASCII (punycode), as a message's `from` is after validation.
 */
export type SenderEntry =
  | { kind: 'address'; address: string }
  | { kind: 'domain'; domain: string }
  | { kind: 'subdomains'; domain: string };

const FORMS = 'an address (user@example.com), a domain (example.com) or its subdomains (*.example.com)';
const CONTROL = /\p{Cc}/u;

/** Parses an entry, or says in a sentence what is wrong with it. */
export function parseSenderEntry(text: string): SenderEntry | { error: string } {
  if (text.trim() === '') return { error: `must not be empty: give ${FORMS}` };
  if (CONTROL.test(text)) return { error: 'contains a control character (a line break, a tab or NUL)' };
  if (text.startsWith('*.')) {
    const domain = toAsciiDomain(text.slice(2));
    return domain
      ? { kind: 'subdomains', domain }
      : { error: `"${text}": "${text.slice(2)}" is not a domain name such as example.com` };
  }
  if (text.includes('*'))
    return { error: `"${text}": a wildcard is allowed only as "*." before a domain (*.example.com)` };
  if (text.startsWith('@') && toAsciiDomain(text.slice(1))) {
    return { error: `"${text}" is not ${FORMS}: write a domain without "@" (${text.slice(1)})` };
  }
  if (text.includes('@')) {
    if (/[<>]/.test(text)) return { error: `"${text}": give the address alone, without a display name or <>` };
    const parsed = parseAddress(text);
    if (!parsed.ok) return { error: `${parsed.error}; an entry is ${FORMS}` };
    return { kind: 'address', address: parsed.value.address.toLowerCase() };
  }
  const domain = toAsciiDomain(text);
  return domain ? { kind: 'domain', domain } : { error: `"${text}" is not ${FORMS}` };
}

/** An entry as the error messages show it: ASCII, lower-case. */
export function formatSenderEntry(entry: SenderEntry): string {
  return entry.kind === 'address' ? entry.address : entry.kind === 'domain' ? entry.domain : `*.${entry.domain}`;
}

/** Whether an address (its domain in ASCII, as validation leaves it) is one an entry allows; case is ignored. */
export function senderMatches(entry: SenderEntry, address: string): boolean {
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@') + 1);
  if (entry.kind === 'address') return lower === entry.address;
  if (entry.kind === 'domain') return domain === entry.domain;
  return domain.endsWith(`.${entry.domain}`);
}

const senderEntry = z.string().superRefine((value, ctx) => {
  const parsed = parseSenderEntry(value);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

/** The field, at the top level and on each route. */
export const allowedSendersField = z
  .array(senderEntry)
  .min(1, 'must list at least one sender: leave the field out to allow every sender')
  .optional();

export const sendersFields = {
  allowedSenders: allowedSendersField.describe(
    'The only senders (from) mailroute sends for: user@example.com, example.com, *.example.com (subdomains); case is ignored, internationalized domains may be given in either form. Anyone else is refused with SENDER_NOT_ALLOWED before routing. Default: every sender.',
  ),
  messageRoutes: z
    .array(z.string())
    .optional()
    .describe(
      "The routes a message's own `route` field may name ([] for none); a route the caller picks (SendOptions.route, the CLI's --route) is not limited. Default: every route.",
    ),
};

type SendersShape = {
  allowedSenders?: string[];
  messageRoutes?: string[];
  routes?: { name: string; senderDomains?: string[]; allowedSenders?: string[] }[];
};

/**
 * Cross-field checks: `messageRoutes` names configured routes; a route's `allowedSenders` entry overlaps the
 * top-level list (else no sender could use it); a route's `senderDomains` are senders its lists allow (else every
 * message the domain sends there would be refused).
 */
export function sendersIssues(config: SendersShape): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const routes = config.routes ?? [];
  config.messageRoutes?.forEach((name, i) => {
    if (!routes.some((r) => r.name === name)) {
      const have = routes.map((r) => r.name).join(', ') || 'none';
      issues.push({ path: `messageRoutes[${i}]`, message: `names no route "${name}" (have: ${have})` });
    }
  });
  const top = entriesOf(config.allowedSenders);
  routes.forEach((route, i) => {
    const own = entriesOf(route.allowedSenders);
    if (top) {
      route.allowedSenders?.forEach((text, j) => {
        const entry = own?.[j];
        if (entry && !top.some((t) => overlap(t, entry))) {
          issues.push({
            path: `routes[${i}].allowedSenders[${j}]`,
            message: `"${text}" is outside the top-level allowedSenders, so no sender could use it`,
          });
        }
      });
    }
    route.senderDomains?.forEach((text, j) => {
      const domain = toAsciiDomain(text);
      if (!domain) return;
      const entry: SenderEntry = { kind: 'domain', domain };
      const lists = [
        ['allowedSenders', top],
        ["the route's allowedSenders", own],
      ] as const;
      const refusing = lists.find(([, list]) => list && !list.some((e) => overlap(e, entry)));
      if (refusing) {
        issues.push({
          path: `routes[${i}].senderDomains[${j}]`,
          message: `"${text}" is not allowed by ${refusing[0]}: its mail would take this route and be refused`,
        });
      }
    });
  });
  return issues;
}

/** The entries of a list, each parsed (an entry that does not parse is undefined: the schema reports it). */
function entriesOf(list: string[] | undefined): (SenderEntry | undefined)[] | undefined {
  return list?.map((text) => {
    const parsed = parseSenderEntry(text);
    return 'error' in parsed ? undefined : parsed;
  });
}

/** Whether some address could be allowed by both entries. */
function overlap(a: SenderEntry | undefined, b: SenderEntry | undefined): boolean {
  if (!a || !b) return true;
  if (a.kind === 'address' && b.kind === 'address') return a.address === b.address;
  if (a.kind === 'address' || b.kind === 'address') {
    const [address, other] = (a.kind === 'address' ? [a, b] : [b, a]) as [{ address: string }, SenderEntry];
    return senderMatches(other, address.address);
  }
  if (a.kind === 'domain' && b.kind === 'domain') return a.domain === b.domain;
  if (a.kind === 'subdomains' && b.kind === 'subdomains')
    return within(a.domain, b.domain) || within(b.domain, a.domain);
  const [exact, wild] = a.kind === 'domain' ? [a, b] : [b, a];
  return exact.domain.endsWith(`.${wild.domain}`);
}

function within(domain: string, parent: string): boolean {
  return domain === parent || domain.endsWith(`.${parent}`);
}
