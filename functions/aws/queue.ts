import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processBatch } from '../../core/queue-batch.ts';
import { type MailrouteContext, mailrouteRuntime, positiveInt, queueDeadlinesOf } from './config.ts';
import { observeOutcome } from './observability.ts';
import { s3PayloadResolver } from './s3-payload.ts';
import { deadLetterTo, toQueueRecord } from './sqs.ts';

const deadLetter = deadLetterTo(process.env.MAILROUTE_DLQ_URL);
const resolveBody = s3PayloadResolver();

/**
 * SQS trigger (with `ReportBatchItemFailures`): the batch is sent with bounded concurrency (`MAILROUTE_CONCURRENCY`,
 * default 10) before the function's deadline; permanent failures go to `MAILROUTE_DLQ_URL` at once and are
 * acknowledged; exactly the records worth retrying come back as `batchItemFailures`, among them any whose DLQ
 * write failed or did not finish in the time left (`queueDeadlinesOf`), so the answer always comes in time.
 */
export const handler = middy<SQSEvent, SQSBatchResponse, Error, MailrouteContext>()
  .use(mailrouteRuntime())
  .handler(async (event, context) => {
    const outcomes = await processBatch(event.Records.map(toQueueRecord), {
      mailer: context.mailer,
      deadLetter,
      concurrency: positiveInt(process.env, 'MAILROUTE_CONCURRENCY', 10),
      ...queueDeadlinesOf(context),
      resolveBody,
    });
    outcomes.forEach(observeOutcome);
    return {
      batchItemFailures: outcomes.filter((o) => o.status === 'retry').map((o) => ({ itemIdentifier: o.id })),
    };
  });
