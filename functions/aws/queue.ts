import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { deadlinesBefore } from '../../core/runtime/deadline.ts';
import { runBatch } from '../../core/runtime/invocation.ts';
import { endOf, mailer } from './config.ts';
import { deadLetterTo } from './dead-letter.ts';
import { lambda, log } from './log.ts';
import type { ResolveCall } from './s3-payload.ts';
import { toQueueRecord } from './sqs.ts';

const deadLetter = deadLetterTo(process.env.MAILROUTE_DLQ_URL);
/**
 * S3 references: only `MAILROUTE_PAYLOAD_BUCKET`/`_PREFIX`, owned by `MAILROUTE_PAYLOAD_BUCKET_OWNER` (the settings
 * as they are at INIT). The resolver (and the providers' size limits it checks against) loads with the first body
 * that may be one: every reference names `mailrouteS3Ref` (client/s3-reference.ts); any other body is a message.
 */
const payloadEnv = { ...process.env };
let resolver: Promise<(body: string, call?: ResolveCall) => Promise<string>> | undefined;
async function resolvePayload(body: string, call: ResolveCall): Promise<string> {
  if (!body.includes('mailrouteS3Ref')) return body;
  resolver ??= import('./s3-payload.ts').then((m) => m.s3PayloadResolver(m.payloadPolicyFromEnv(payloadEnv)));
  return (await resolver)(body, call);
}

/**
 * SQS trigger (with `ReportBatchItemFailures`): the batch is sent by the runtime (core/runtime/invocation.ts) with
 * bounded concurrency (`MAILROUTE_CONCURRENCY`, default 10) before the function's deadline; permanent failures go
 * to `MAILROUTE_DLQ_URL` at once and are acknowledged; exactly the records worth retrying come back as
 * `batchItemFailures`, among them any whose DLQ write failed or did not finish in the time left, so the answer
 * always comes in time. A body that is an S3 reference is read (functions/aws/s3-payload.ts) by the same send
 * deadline as the batch's sends: one that S3 has not returned by then goes back to the queue.
 */
export const handler = lambda<SQSEvent, SQSBatchResponse>(async (event, context) => {
  const records = event.Records.map(toQueueRecord);
  const endsAt = endOf(context)();
  // The deadline runBatch sends by (the same end, the same margin setting, read when a reference needs it: a
  // wrong setting has already failed the invocation by then).
  const resolveBody = (body: string) => resolvePayload(body, { deadline: deadlinesBefore(endsAt).deadline });
  const end = () => endsAt;
  const outcomes = await runBatch(records, { mailer, log, end, deadLetter, resolveBody });
  const retry = outcomes.filter((outcome) => outcome.status === 'retry');
  return { batchItemFailures: retry.map((outcome) => ({ itemIdentifier: outcome.id })) };
});
