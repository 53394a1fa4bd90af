import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { runBatch } from '../../core/runtime/invocation.ts';
import { endOf, mailer } from './config.ts';
import { deadLetterTo } from './dead-letter.ts';
import { lambda, log } from './log.ts';
import { s3PayloadResolver } from './s3-payload.ts';
import { toQueueRecord } from './sqs.ts';

const deadLetter = deadLetterTo(process.env.MAILROUTE_DLQ_URL);
const resolveBody = s3PayloadResolver();

/**
 * SQS trigger (with `ReportBatchItemFailures`): the batch is sent by the runtime (core/runtime/invocation.ts) with
 * bounded concurrency (`MAILROUTE_CONCURRENCY`, default 10) before the function's deadline; permanent failures go
 * to `MAILROUTE_DLQ_URL` at once and are acknowledged; exactly the records worth retrying come back as
 * `batchItemFailures`, among them any whose DLQ write failed or did not finish in the time left, so the answer
 * always comes in time.
 */
export const handler = lambda<SQSEvent, SQSBatchResponse>(async (event, context) => {
  const records = event.Records.map(toQueueRecord);
  const outcomes = await runBatch(records, { mailer, log, end: endOf(context), deadLetter, resolveBody });
  const retry = outcomes.filter((outcome) => outcome.status === 'retry');
  return { batchItemFailures: retry.map((outcome) => ({ itemIdentifier: outcome.id })) };
});
