import type { MailrouteConfig } from '../config/schema.ts';
import { formatSenderEntry, parseSenderEntry, type SenderEntry, senderMatches } from '../config/senders-config.ts';
import { ConfigurationError, InvalidMessageError, SenderNotAllowedError } from '../errors.ts';
import type { NormalizedMessage } from '../message/message.ts';
import { chooseRoute, type PlanOptions } from './routing.ts';

/** Each list parsed once (a configuration is not changed after it is loaded). */
const parsedLists = new WeakMap<string[], SenderEntry[]>();

/**
 * Refuses, before anything is claimed, screened or routed, a message the configuration does not let through:
 * - a sender (`from`, the only identity a message has: `Sender` and `Return-Path` are reserved headers) that is
 *   not on `allowedSenders`: `SenderNotAllowedError`;
 * - a message whose own `route` field names a route `messageRoutes` does not list: `InvalidMessageError` on
 *   `route`, with the same sentence whether that route exists or not. The caller's `options.route` is trusted code
 *   and not limited;
 * - a sender not on the `allowedSenders` of the route the message would take (named by the message or the caller,
 *   or picked by sender domain or default): `SenderNotAllowedError` naming the route. A send to one provider
 *   entry (`options.provider`) takes no route, and only the top-level list applies.
 * Without any of these fields it does nothing.
 */
export function checkSender(
  config: MailrouteConfig,
  message: NormalizedMessage,
  options: Pick<PlanOptions, 'provider' | 'route'> = {},
): void {
  const sender = message.from.address;
  if (config.allowedSenders) refuseUnlessAllowed(sender, config.allowedSenders, 'allowedSenders');
  const may = config.messageRoutes;
  if (message.route !== undefined && may && !may.includes(message.route)) {
    const which = may.length ? `messageRoutes: ${may.join(', ')}` : 'messageRoutes is empty: a message may name none';
    throw new InvalidMessageError([
      { path: 'route', message: `"${message.route}" is not a route a message may name (${which})` },
    ]);
  }
  const routes = config.routes ?? [];
  if (!routes.some((r) => r.allowedSenders)) return;
  const senderDomain = sender.slice(sender.lastIndexOf('@') + 1).toLowerCase();
  const { chosen } = chooseRoute(config, message, options, senderDomain);
  const index = routes.indexOf(chosen as (typeof routes)[number]);
  if (index === -1 || !chosen.allowedSenders) return;
  refuseUnlessAllowed(sender, chosen.allowedSenders, `routes[${index}].allowedSenders`, chosen.name);
}

function refuseUnlessAllowed(sender: string, list: string[], path: string, route?: string): void {
  const entries = parsedList(list, path);
  if (entries.some((entry) => senderMatches(entry, sender))) return;
  throw new SenderNotAllowedError(sender, entries.map(formatSenderEntry), route === undefined ? {} : { route });
}

/** A list's entries; one that does not parse (a configuration that skipped validation) is a configuration error. */
function parsedList(list: string[], path: string): SenderEntry[] {
  let entries = parsedLists.get(list);
  if (!entries) {
    entries = list.map((text, i) => {
      const parsed = parseSenderEntry(text);
      if (!('error' in parsed)) return parsed;
      throw new ConfigurationError(`${path}[${i}]: ${parsed.error}`, {
        issues: [{ path: `${path}[${i}]`, message: parsed.error }],
      });
    });
    parsedLists.set(list, entries);
  }
  return entries;
}
