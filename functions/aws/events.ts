import type { IntakeOptions } from '../../core/events/intake.ts';
import type { AppliedEvent } from '../../core/events/mail-events.ts';
import { answerHttp, runEvents } from '../../core/runtime/invocation.ts';
import { endOf, mailer } from './config.ts';
import { type EventsTrigger, eventDeliveries } from './event-input.ts';
import { isHttpEvent, outsideEvents, toHttpRequest, toResult } from './http-io.ts';
import { lambda, log } from './log.ts';
import { countEvents, countRefused } from './metrics.ts';

/**
 * SES delivery events: the SNS topic's Lambda subscription (every record's signature and topic verified), the
 * EventBridge rule, or `POST /v1/events/ses` on a function URL or HTTP API (SNS envelopes, SubscriptionConfirmation
 * included). The same URL serves the one-click unsubscribe links (`GET|POST /v1/unsubscribe?token=…`, the token
 * the credential) and nothing else. A refused record (forged, tampered, another topic, not SES) is logged with its
 * reason, counted as `EventsRefused` and dropped: it would be refused again on every retry, and retrying it would
 * only park it in the dead-letter queue beside the events that deserve a second look. Any other failure (the state
 * table, the signing certificate) fails the invocation: Lambda retries it, then its on-failure destination keeps it.
 * `intake` is for tests (a certificate agent, a fetch): the shipped handler fetches certificates from AWS's SNS hosts
 * only.
 */
export function eventsHandler(intake: IntakeOptions = {}) {
  return lambda<EventsTrigger, unknown>(async (event, context) => {
    const run = { mailer, log, end: endOf(context) };
    if (isHttpEvent(event)) {
      const request = toHttpRequest(event);
      const answer = outsideEvents(request) ?? (await answerHttp(request, { ...run, events: intake }));
      // A refusal answers 400, 401 or 403 (an unknown route here is 404, not counted; nor is a refused unsubscribe
      // link, which is no delivery event).
      const events = request.path.startsWith('/v1/events/');
      if (events && [400, 401, 403].includes(answer.status)) countRefused(request.path.slice('/v1/events/'.length));
      return toResult(answer);
    }
    const applied: AppliedEvent[] = [];
    let refused = 0;
    // The intake (parsers, SNS verification) loads with the first event, as the mailer does.
    const { ingestPayload } = await import('../../core/events/intake.ts');
    for (const { trigger, payload, trusted, eventId } of eventDeliveries(event)) {
      const request = trusted ? { authenticated: true } : {};
      const ingest = (m: Parameters<typeof ingestPayload>[0]) => ingestPayload(m, 'ses', payload, request, intake);
      const outcome = await runEvents(run, ingest, { trigger, ...(eventId ? { eventId } : {}) });
      if (outcome.status === 'applied') applied.push(...outcome.answer.applied);
      else refused++;
    }
    // Counted once every record went through: a failed invocation is retried whole, and counted then.
    countEvents(applied);
    countRefused('ses', refused);
    return {
      events: applied.length,
      suppressed: applied.filter((a) => a.suppression === 'suppressed').length,
      refused,
    };
  });
}

export const handler = eventsHandler();
