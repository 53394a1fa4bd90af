/**
 * One "function instance" as a real process: builds a mailer from the configuration in `MR_SENDER_SPEC`
 * (the real `createMailer`, with the state store it names), sends one message, prints one JSON line with the
 * outcome on stdout and exits. Tests spawn it to crash it (SIGKILL) mid-send or to run it with a skewed clock.
 */

import { validateConfig } from '../../core/config/config.ts';
import { isMailrouteError } from '../../core/errors.ts';
import { jsonLogger } from '../../core/util/log.ts';
import { createMailer } from '../../index.ts';

interface SenderSpec {
  config: Record<string, unknown>;
  message: Record<string, unknown>;
  options?: { idempotencyKey?: string; deadlineInMs?: number };
}

const spec = JSON.parse(process.env.MR_SENDER_SPEC ?? '{}') as SenderSpec;
const mailer = await createMailer(validateConfig(spec.config), { logger: jsonLogger() });
const { deadlineInMs, ...options } = spec.options ?? {};
let line: Record<string, unknown>;
try {
  const result = await mailer.send(spec.message, {
    ...options,
    ...(deadlineInMs === undefined ? {} : { deadline: Date.now() + deadlineInMs }),
  });
  line = { ok: true, result };
} catch (error) {
  line = { ok: false, error: isMailrouteError(error) ? error.toJSON() : { message: String(error) } };
}
process.stdout.write(`${JSON.stringify(line)}\n`);
await mailer.close();
process.exit(0);
