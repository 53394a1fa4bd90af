import { z } from 'zod';
import type { FieldIssue } from '../errors.ts';
import { secretRef } from './secret-refs.ts';
import { allowedSendersField, sendersIssues } from './senders-config.ts';

/** Per provider entry: what it may send and how fast. */
export const providerRoutingFields = {
  domains: z
    .array(z.string().min(1))
    .optional()
    .describe('Sender domains verified on this provider; when set, it only sends for these.'),
  rateLimits: z
    .array(
      z
        .object({
          limit: z.number().positive(),
          per: z.enum(['second', 'minute', 'hour', 'day']),
          burst: z.number().int().positive().optional(),
          instances: z
            .number()
            .int()
            .positive()
            .optional()
            .describe(
              'With a shared store: the most instances sending at once. While the store is unreachable each paces itself at limit / instances (default 10).',
            ),
        })
        .strict(),
    )
    .optional()
    .describe('Token buckets from the provider quota, e.g. [{ limit: 14, per: second }].'),
};

const route = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _'),
    providers: z.array(z.string()).min(1).describe('Provider entry names, in failover order.'),
    weights: z
      .record(z.string(), z.number().nonnegative())
      .optional()
      .describe('Weighted distribution of first choice; the rest of the list stays behind it for failover.'),
    senderDomains: z.array(z.string().min(1)).optional().describe('Messages from these domains take this route.'),
    allowDuplicates: z
      .boolean()
      .optional()
      .describe('After an ambiguous failure, send through the next provider anyway (a duplicate is acceptable).'),
    allowedSenders: allowedSendersField.describe(
      'The only senders a message on this route may have, within the top-level allowedSenders (same forms); anyone else is refused with SENDER_NOT_ALLOWED.',
    ),
  })
  .strict();

export const routingFields = {
  routes: z.array(route).optional(),
  defaultRoute: z
    .string()
    .optional()
    .describe('Route for messages no other rule picks; default: every provider in order.'),
  health: z
    .object({
      failureThreshold: z.number().int().min(1).optional().describe('Failures in a row that open the circuit.'),
      failureRate: z
        .number()
        .gt(0)
        .lt(1)
        .optional()
        .describe('Share of the last failureWindow calls that, failing, open the circuit (default 0.5).'),
      failureWindow: z.number().int().min(1).optional().describe('Calls the failure rate is taken over (default 20).'),
      slowCallMs: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('A send slower than this counts as a failure of its provider (default 10000).'),
      cooldownMs: z.number().int().min(0).optional(),
    })
    .strict()
    .optional(),
  retry: z
    .object({
      maxAttempts: z.number().int().min(1).max(10).optional().describe('Tries per provider for transient errors.'),
      baseDelayMs: z.number().int().min(0).optional(),
      maxDelayMs: z.number().int().min(0).optional(),
      maxThrottleWaitMs: z.number().int().min(0).optional().describe('Longest Retry-After waited on one provider.'),
      maxRateWaitMs: z.number().int().min(0).optional().describe('Longest wait for a rate-limit slot on one provider.'),
    })
    .strict()
    .optional(),
  idempotency: z
    .object({
      completedTtlSeconds: z.number().int().positive().optional(),
      inProgressTtlMs: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('Lease of a claim when a send has no deadline; the send is bounded by it.'),
      clockSkewToleranceMs: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe("How far instances' clocks may disagree: an expired lease is taken over only this long after."),
    })
    .strict()
    .optional(),
  store: z
    .discriminatedUnion('type', [
      z
        .object({
          type: z.literal('memory'),
          maxRecords: z
            .number()
            .int()
            .min(100)
            .optional()
            .describe('Records kept at most (default 100,000); past it the least recently written are dropped.'),
        })
        .strict(),
      z
        .object({
          type: z.literal('dynamodb'),
          tableName: z.string().min(1),
          region: z.string().optional(),
          endpoint: z.url().optional(),
        })
        .strict(),
      z
        .object({
          type: z.literal('azure-table'),
          tableName: z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'must be 3-63 letters and digits'),
          connectionString: z.object({ env: z.string() }).strict().optional(),
          endpoint: z.url().optional(),
        })
        .strict(),
      z
        .object({
          type: z.literal('redis'),
          url: secretRef.describe(
            'Reference to the Redis URL, which may hold the AUTH password: redis://[:password@]host:port[/db], or rediss://… for TLS (Memorystore, OCI Cache).',
          ),
          keyPrefix: z
            .string()
            .min(1)
            .optional()
            .describe('Put before every key, so other applications can share the database; default "mailroute:".'),
        })
        .strict(),
    ])
    .optional()
    .describe('Where health, rate limits and idempotency records are shared; default: in-process memory.'),
};

type RoutingShape = {
  providers: { name: string; domains?: string[] }[];
  routes?: {
    name: string;
    providers: string[];
    weights?: Record<string, number>;
    senderDomains?: string[];
    allowedSenders?: string[];
  }[];
  defaultRoute?: string;
  allowedSenders?: string[];
  messageRoutes?: string[];
};

/** Cross-field checks: every name a route uses must exist; the sender lists agree with the routes (`sendersIssues`). */
export function routingIssues(config: RoutingShape): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const providers = new Set(config.providers.map((p) => p.name));
  const routes = new Set<string>();
  (config.routes ?? []).forEach((r, i) => {
    if (routes.has(r.name)) issues.push({ path: `routes[${i}].name`, message: `"${r.name}" is used by another route` });
    routes.add(r.name);
    r.providers.forEach((p, j) => {
      if (!providers.has(p))
        issues.push({ path: `routes[${i}].providers[${j}]`, message: `names no provider entry "${p}"` });
    });
    for (const w of Object.keys(r.weights ?? {})) {
      if (!r.providers.includes(w))
        issues.push({ path: `routes[${i}].weights.${w}`, message: "is not in this route's providers" });
    }
  });
  if (config.defaultRoute && !routes.has(config.defaultRoute)) {
    issues.push({ path: 'defaultRoute', message: `names no route "${config.defaultRoute}"` });
  }
  issues.push(...sendersIssues(config));
  return issues;
}
