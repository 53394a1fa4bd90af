import { app, type EventGridEvent, type InvocationContext } from '@azure/functions';
import { runEvents } from '../../core/runtime/invocation.ts';
import { ACS_EVENTS_FUNCTION } from './bindings.ts';
import { mailer } from './config.ts';
import { functionEnd, MARGIN_MS } from './host.ts';
import { invocationLog } from './log.ts';

/**
 * Event Grid trigger: one ACS email event per invocation (`EmailDeliveryReportReceived`,
 * `EmailEngagementTrackingReportReceived`) from the Communication Service's system topic, applied to the suppression
 * list and counts; each applied event is logged (recipient masked). Only Event Grid invokes the trigger, so the
 * event is taken as authenticated. A failure throws, so Event Grid delivers the event again (with backoff, up to
 * the subscription's retry policy) and then dead-letters it to blob storage, where the alert sees it: a store
 * outage, and also an event the parser refuses (a shape ACS has started to send, worth a look rather than a drop).
 */
export async function acsEvents(event: EventGridEvent, context: InvocationContext): Promise<void> {
  const run = { mailer, log: invocationLog(context), end: functionEnd(), marginMs: MARGIN_MS };
  // The intake (the ACS parser) loads with the first event, as the mailer does.
  const { ingestPayload } = await import('../../core/events/intake.ts');
  const ingest = (m: Parameters<typeof ingestPayload>[0]) => ingestPayload(m, 'acs', [event], { authenticated: true });
  const outcome = await runEvents(run, ingest, { trigger: 'eventgrid', eventId: event.id, eventType: event.eventType });
  if (outcome.status === 'refused') throw new Error(`Event Grid event ${event.id} refused: ${outcome.error.message}`);
}

app.eventGrid(ACS_EVENTS_FUNCTION, { handler: acsEvents });
