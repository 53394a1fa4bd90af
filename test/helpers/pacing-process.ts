/**
 * One "function instance" pacing a provider as a real process: builds a mailer from `MR_PACING_SPEC` (the real
 * `createMailer`, with the shared state store it names), warms it up on the unlimited `warmup` entry, prints
 * `{"ready":true}`, reads the start time (epoch ms)
 * from a line on stdin, then sends as fast as its rate limit lets it, with `concurrency` sends in flight, until
 * `durationMs` after the start, through the `paced` entry. Prints one JSON line with what it sent and the errors it met, and exits.
 */

import { createInterface } from 'node:readline';
import { validateConfig } from '../../core/config/config.ts';
import { isMailrouteError } from '../../core/errors.ts';
import { jsonLogger } from '../../core/util/log.ts';
import { createMailer } from '../../index.ts';

interface PacingSpec {
  config: Record<string, unknown>;
  concurrency: number;
  durationMs: number;
  label: string;
}

const spec = JSON.parse(process.env.MR_PACING_SPEC ?? '{}') as PacingSpec;
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
        await mailer.send(
          {
            from: 'pacer@example.com',
            to: 'user@example.com',
            subject: `${spec.label} ${n}`,
            text: 'Paced.',
          },
          { provider: 'paced' },
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
process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
await mailer.close();
process.exit(0);
