/**
 * One "function instance" pacing a provider as a real process: builds a mailer from `MR_PACING_SPEC` (the real
 * `createMailer`, with the shared state store it names), warms it up on the unlimited `warmup` entry, prints
 * `{"ready":true}`, reads the start time (epoch ms)
 * from a line on stdin, then sends as fast as its rate limit lets it, with `concurrency` sends in flight, until
 * `durationMs` after the start, through the `paced` entry. Prints one JSON line with what it sent, the errors it
 * met, the slot the store granted each send (`slots`: [send number, slot, when the grant came back], the number
 * being the last word of the subject) and the store's refusals (`refusals`: [the wait asked for, retry after]),
 * and exits.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { createInterface } from 'node:readline';
import { validateConfig } from '../../core/config/config.ts';
import { isMailrouteError } from '../../core/errors.ts';
import { jsonLogger } from '../../core/util/log.ts';
import { createMailer } from '../../index.ts';
import type { RateGrant, StateStore } from '../../stores/store.ts';

interface PacingSpec {
  config: Record<string, unknown>;
  concurrency: number;
  durationMs: number;
  label: string;
}

const spec = JSON.parse(process.env.MR_PACING_SPEC ?? '{}') as PacingSpec;

// What the shared store granted, as it answered: the store class the configuration names is the one the mailer
// builds (same module), and its reserveRate is watched, not replaced. Each grant is put down to the send whose
// call asked for it (the send's number travels with its async context).
const sending = new AsyncLocalStorage<number>();
const slots: [number, number, number][] = [];
const refusals: [number, number][] = [];
const storeType = (spec.config.store as { type?: string } | undefined)?.type;
const Store: { prototype: StateStore } | undefined =
  storeType === 'redis'
    ? (await import('../../stores/redis.ts')).RedisStore
    : storeType === 'dynamodb'
      ? (await import('../../stores/dynamodb.ts')).DynamoDbStore
      : storeType === 'azure-table'
        ? (await import('../../stores/azure-table.ts')).AzureTableStore
        : undefined;
const reserveRate = Store?.prototype.reserveRate;
if (!Store || !reserveRate) throw new Error(`no shared rate limit in a "${storeType}" store`);
Store.prototype.reserveRate = async function (this: StateStore, ...args: Parameters<typeof reserveRate>) {
  const grant: RateGrant = await reserveRate.apply(this, args);
  const n = sending.getStore();
  if (n === undefined) return grant;
  if (grant.ok) slots.push([n, grant.at, Date.now()]);
  else refusals.push([args[2].maxWaitMs, grant.retryAfterMs]);
  return grant;
};

const mailer = await createMailer(validateConfig(spec.config), { logger: jsonLogger() });
// Warmed up before the start through an unlimited entry (composing, the outbox, the store's connection), so
// that the first paced sends are not late for their slots by a cold process's first-time costs.
for (let i = 0; i < 3; i++) {
  await mailer.send(
    { from: 'pacer@example.com', to: 'user@example.com', subject: 'warm-up', text: 'Warm-up.' },
    { provider: 'warmup' },
  );
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

const lines = createInterface({ input: process.stdin });
const startAt = await new Promise<number>((resolve) => lines.once('line', (line) => resolve(Number(line))));
lines.close();
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));

const stopAt = startAt + spec.durationMs;
let sent = 0;
let next = 0;
const errors: Record<string, number> = {};
await Promise.all(
  Array.from({ length: spec.concurrency }, async () => {
    while (Date.now() < stopAt) {
      const n = next++;
      try {
        await sending.run(n, () =>
          mailer.send(
            {
              from: 'pacer@example.com',
              to: 'user@example.com',
              subject: `${spec.label} ${n}`,
              text: 'Paced.',
            },
            { provider: 'paced' },
          ),
        );
        sent += 1;
      } catch (error) {
        const code = isMailrouteError(error) ? error.code : String(error);
        errors[code] = (errors[code] ?? 0) + 1;
        // Refused (no slot within maxRateWaitMs) or failed: tried again shortly, as an eager sender would.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }),
);
process.stdout.write(`${JSON.stringify({ sent, errors, slots, refusals })}\n`);
await mailer.close();
process.exit(0);
