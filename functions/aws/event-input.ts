import type { APIGatewayProxyEventV2, EventBridgeEvent, SNSEvent } from 'aws-lambda';

/** What invokes the events function: its SNS subscription, the EventBridge rule, a function URL or HTTP API. */
export type EventsTrigger = SNSEvent | EventBridgeEvent<string, unknown> | APIGatewayProxyEventV2;

/** One delivery of SES events to take in: what it came by, the payload, whether the platform vouches for it. */
export interface EventDelivery {
  trigger: 'sns' | 'eventbridge' | 'invoke';
  payload: unknown;
  /** Only the EventBridge rule may invoke with an `aws.ses` event; an SNS record is verified by its signature. */
  trusted: boolean;
  eventId?: string;
}

/**
 * The deliveries of a non-HTTP invocation: one per SNS record (the record's `Sns` envelope, verified on intake),
 * the EventBridge event itself, or anything else as an untrusted payload (a direct invoke), which the intake
 * accepts only as a signed SNS envelope.
 */
export function eventDeliveries(event: Exclude<EventsTrigger, APIGatewayProxyEventV2>): EventDelivery[] {
  if ('Records' in event && Array.isArray(event.Records)) {
    return event.Records.map((r) => ({ trigger: 'sns', payload: r.Sns, trusted: false, eventId: r.Sns?.MessageId }));
  }
  if ('source' in event && event.source === 'aws.ses') {
    return [{ trigger: 'eventbridge', payload: event, trusted: true, eventId: event.id }];
  }
  return [{ trigger: 'invoke', payload: event, trusted: false }];
}
