import * as functions from '@google-cloud/functions-framework';
import { deadLetterRecord, processRecord } from '../../core/queue-batch.ts';
import { errorField, log, observeOutcome } from './log.ts';
import { deadLetterFor, readPubSubEvent } from './pubsub-event.ts';
import { instanceMailer, queueDeadlinesOf } from './runtime.ts';

/**
 * Pub/Sub through Eventarc (`google.cloud.pubsub.topic.v1.messagePublished`), one message per event, deployed
 * with retry enabled. Sent or duplicate: acknowledged (2xx). Permanent failure (invalid, rejected) and malformed
 * event: published to `MAILROUTE_FAILED_TOPIC` with its reason, then acknowledged. Anything worth retrying
 * (throttle, outage, deadline, a failed-topic publish that failed or did not finish before its deadline, a broken
 * cold start): thrown, so the answer is 500, in time, and Pub/Sub redelivers, up to the subscription's max
 * delivery attempts, then to its dead-letter topic.
 */
export async function handlePubSubEvent(event: functions.CloudEvent<unknown>): Promise<void> {
  const started = Date.now();
  const deadlines = queueDeadlinesOf(started);
  const read = readPubSubEvent(event);
  const deadLetter = deadLetterFor(read);
  if (!read.ok) {
    const outcome = await deadLetterRecord(read.record, { reason: read.reason }, { deadLetter, ...deadlines });
    observeOutcome(outcome);
    if (outcome.status === 'retry') throw redeliver(outcome.id);
    return;
  }
  const mailer = await instanceMailer().catch((error: unknown) => {
    log('ERROR', 'cold start failed', { error: errorField(error) });
    throw error;
  });
  const outcome = await processRecord(read.record, { mailer, deadLetter, ...deadlines });
  observeOutcome(outcome);
  if (outcome.status === 'retry') throw redeliver(outcome.id);
}

/**
 * The error that makes the framework answer 500. It logs the stack to stderr: one line, naming no address (the
 * masked reason is in the `record` line already).
 */
function redeliver(id: string): Error {
  const text = `Pub/Sub message ${id} was not sent yet: answered 500 so that Pub/Sub redelivers it`;
  return Object.assign(new Error(text), { stack: text });
}

functions.cloudEvent('mailrouteQueue', handlePubSubEvent);
