import { answerInvoke } from '../../core/runtime/invocation.ts';
import type { SendAnswer } from '../../core/runtime/send-payload.ts';
import { endOf, mailer } from './config.ts';
import { lambda, log } from './log.ts';

/**
 * Direct `lambda:Invoke` with the message JSON as the event: sends now and answers `{ ok: true, result }`, or
 * `{ ok: false, error }` with the error's code and field issues (never a throw, so the caller gets the JSON; a
 * broken cold start included). Only an unexpected error (a bug) is thrown. Set the message's `idempotencyKey` to
 * make a retried invoke safe.
 */
export const handler = lambda<unknown, SendAnswer>((event, context) =>
  answerInvoke(event, { mailer, log, end: endOf(context) }),
);
