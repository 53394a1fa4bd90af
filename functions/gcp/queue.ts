import * as functions from '@google-cloud/functions-framework';
import { runRecord, setAside } from '../../core/runtime/invocation.ts';
import { functionEnd, mailer } from './config.ts';
import { failedTopicSink } from './failed-topic.ts';
import { log } from './log.ts';
import { readPubSubEvent } from './pubsub-event.ts';

/**
 * Pub/Sub through Eventarc (`google.cloud.pubsub.topic.v1.messagePublished`), one message per event, deployed
 * with retry enabled. Sent or duplicate: acknowledged (2xx). Permanent failure (invalid, rejected) and malformed
 * event: published to `MAILROUTE_FAILED_TOPIC` with its reason, then acknowledged. Anything worth retrying
 * (throttle, outage, deadline, a failed-topic publish that failed or did not finish before its deadline, a broken
 * cold start, logged as `cold start failed`): thrown, so the answer is 500, in time, and Pub/Sub redelivers, up to
 * the subscription's max delivery attempts, then to its dead-letter topic.
 */
export async function handlePubSubEvent(event: functions.CloudEvent<unknown>): Promise<void> {
  const read = readPubSubEvent(event);
  const run = { mailer, log, end: functionEnd(), deadLetter: failedTopicSink(read), failure: 'cold start failed' };
  const outcome = read.ok ? await runRecord(read.record, run) : await setAside(read.record, read.failure, run);
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
