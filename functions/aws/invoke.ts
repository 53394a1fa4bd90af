import middy from '@middy/core';
import { isMailrouteError } from '../../core/errors.ts';
import { type SendAnswer, sendPayload } from '../../core/send-payload.ts';
import { deadlineOf, type MailrouteContext, mailrouteRuntime } from './config.ts';
import { observeSend } from './observability.ts';

/**
 * Direct `lambda:Invoke` with the message JSON as the event: sends now and answers `{ ok: true, result }`, or
 * `{ ok: false, error }` with the error's code and field issues (never a throw, so the caller gets the JSON).
 * Only an unexpected error (a bug) is thrown. Set the message's `idempotencyKey` to make a retried invoke safe.
 */
export const handler = middy<unknown, SendAnswer, Error, MailrouteContext>()
  .use(mailrouteRuntime((error) => (isMailrouteError(error) ? { ok: false, error: error.toJSON() } : undefined)))
  .handler(async (event, context) => {
    const answer = await sendPayload(context.mailer, event, { deadline: deadlineOf(context) });
    observeSend(answer, { trigger: 'invoke' });
    return answer;
  });
