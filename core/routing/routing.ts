import type { MailrouteConfig } from '../config/schema.ts';
import { ConfigurationError, InvalidMessageError } from '../errors.ts';
import { domainKey } from '../message/address.ts';
import type { NormalizedMessage } from '../message/message.ts';

export interface Plan {
  route: string;
  /** Why this route was chosen. */
  why: string;
  /**
   * Provider entries in the order they will be tried: the name, and the entry's provider and mode, so an attempt
   * is labelled with them even when its adapter could not be built.
   */
  candidates: { name: string; why: string; provider?: string; mode?: 'smtp' | 'api' }[];
  /** Entries of the route that will not be tried for this message, and why. */
  excluded: { name: string; why: string }[];
  allowDuplicates: boolean;
}

export interface PlanOptions {
  /** One provider entry, bypassing routes. */
  provider?: string;
  route?: string;
  random?: () => number;
}

/**
 * Chooses the route for a message and the order of its providers: a route named by the message (or the caller),
 * else the first route for the sender's domain, else `defaultRoute`, else every provider in configured order.
 */
export function planRoute(config: MailrouteConfig, message: NormalizedMessage, options: PlanOptions = {}): Plan {
  const senderDomain = message.from.address.slice(message.from.address.lastIndexOf('@') + 1).toLowerCase();
  const { chosen, why } = chooseRoute(config, message, options, senderDomain);
  const excluded: Plan['excluded'] = [];
  const eligible = chosen.providers.filter((name) => {
    const entry = config.providers.find((p) => p.name === name);
    const domains = entry?.domains?.map(domainKey);
    if (domains && !domains.includes(senderDomain)) {
      excluded.push({ name, why: `sends only for ${domains.join(', ')}, not ${senderDomain}` });
      return false;
    }
    return true;
  });
  const ordered = weightedOrder(eligible, chosen.weights, options.random ?? Math.random);
  const candidates = ordered.map((name, i) => ({
    name,
    ...entryLabels(config, name),
    why:
      i === 0
        ? chosen.weights
          ? `picked by weight (${describeWeights(eligible, chosen.weights)})`
          : 'first in the route'
        : `failover #${i}`,
  }));
  return { route: chosen.name, why, candidates, excluded, allowDuplicates: chosen.allowDuplicates ?? false };
}

/** The provider and mode of a configured entry, to label its attempts with. */
function entryLabels(config: MailrouteConfig, name: string): { provider?: string; mode?: 'smtp' | 'api' } {
  const entry = config.providers.find((p) => p.name === name);
  return entry ? { provider: entry.provider, mode: entry.mode } : {};
}

/** A configured route (with its own fields), or one made for the send (a named provider, every provider). */
export type ChosenRoute = {
  name: string;
  providers: string[];
  weights?: Record<string, number>;
  allowDuplicates?: boolean;
  allowedSenders?: string[];
};

/** Which route, and why: a provider or route named by the send, the sender's domain, the default, or everything. */
export function chooseRoute(
  config: MailrouteConfig,
  message: NormalizedMessage,
  options: PlanOptions,
  senderDomain: string,
): { chosen: ChosenRoute; why: string } {
  const routes = config.routes ?? [];
  if (options.provider) {
    if (!config.providers.some((p) => p.name === options.provider)) {
      throw new ConfigurationError(`no provider entry is named "${options.provider}"`, {
        issues: [
          {
            path: 'provider',
            message: `names no provider entry (have: ${config.providers.map((p) => p.name).join(', ')})`,
          },
        ],
      });
    }
    const chosen = { name: `provider:${options.provider}`, providers: [options.provider] };
    return { chosen, why: `provider "${options.provider}" named by the send` };
  }
  // Both naming a route, and not the same: which one was meant cannot be told, so neither is guessed.
  if (message.route && options.route && message.route !== options.route) {
    throw new InvalidMessageError([
      {
        path: 'route',
        message: `"${message.route}" is named by the message, but the send names route "${options.route}": name one, or the same`,
      },
    ]);
  }
  const named = message.route ?? options.route;
  if (named) {
    const found = routes.find((r) => r.name === named);
    if (!found) {
      throw new InvalidMessageError([
        {
          path: 'route',
          message: `names no configured route (have: ${routes.map((r) => r.name).join(', ') || 'none'})`,
        },
      ]);
    }
    return {
      chosen: found,
      why: message.route ? `route "${named}" named by the message` : `route "${named}" named by the caller`,
    };
  }
  const byDomain = routes.find((r) => r.senderDomains?.some((d) => domainKey(d) === senderDomain));
  if (byDomain) return { chosen: byDomain, why: `route "${byDomain.name}" serves sender domain ${senderDomain}` };
  const byDefault = config.defaultRoute ? routes.find((r) => r.name === config.defaultRoute) : undefined;
  if (byDefault) return { chosen: byDefault, why: `default route "${byDefault.name}"` };
  const names = config.providers.map((p) => p.name);
  const first = config.defaultProvider ?? names[0]!;
  return {
    chosen: { name: 'default', providers: [first, ...names.filter((n) => n !== first)] },
    why: 'no route matched: every provider entry, defaultProvider first',
  };
}

/** The first provider drawn by weight; the others keep their configured order behind it, for failover. */
function weightedOrder(names: string[], weights: Record<string, number> | undefined, random: () => number): string[] {
  if (!weights || names.length < 2) return names;
  const total = names.reduce((sum, n) => sum + (weights[n] ?? 0), 0);
  if (total <= 0) return names;
  let draw = random() * total;
  let first = names[names.length - 1]!;
  for (const n of names) {
    draw -= weights[n] ?? 0;
    if (draw < 0) {
      first = n;
      break;
    }
  }
  return [first, ...names.filter((n) => n !== first)];
}

function describeWeights(names: string[], weights: Record<string, number>): string {
  return names.map((n) => `${n}=${weights[n] ?? 0}`).join(', ');
}
