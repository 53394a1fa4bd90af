import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { EventRejectedError } from '../../core/errors.ts';
import { type MailEvent, mailEventSchema } from '../../core/events/event.ts';
import {
  cloudEventsHandshake,
  EVENT_GRID_VALIDATION_HEADER,
  eventGridEvents,
  isValidationRequest,
} from '../../core/events/sources/acs.ts';

const TOPIC = '/subscriptions/sub-1/resourceGroups/rg/providers/microsoft.communication/communicationservices/mail';

/** An Event Grid schema event of ours, with the documented fields. */
function gridEvent(eventType: string, data: Record<string, unknown>, eventTime = '2030-01-02T03:04:05.678Z') {
  return {
    id: `evt-${Math.random().toString(16).slice(2)}`,
    topic: TOPIC,
    subject: 'sender/app@mail.example.com/message/op-1',
    data,
    eventType,
    dataVersion: '1.0',
    metadataVersion: '1',
    eventTime,
  };
}

function report(status: string, extra: Record<string, unknown> = {}) {
  return gridEvent('Microsoft.Communication.EmailDeliveryReportReceived', {
    sender: 'app@mail.example.com',
    recipient: 'user@example.net',
    messageId: 'op-1',
    status,
    deliveryStatusDetails: { statusMessage: `details for ${status}` },
    deliveryAttemptTimeStamp: '2030-01-02T03:00:00.1234567+00:00',
    ...extra,
  });
}

function engagement(engagementType: string, extra: Record<string, unknown> = {}) {
  return gridEvent('Microsoft.Communication.EmailEngagementTrackingReportReceived', {
    sender: 'app@mail.example.com',
    recipient: 'user@example.net',
    messageId: 'op-2',
    userActionTimeStamp: '2030-01-03T10:00:00.5+00:00',
    engagementContext: 'https://example.org/landing?x=1',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
    engagementType,
    ...extra,
  });
}

function only(body: unknown): MailEvent {
  const { events, validationCode } = eventGridEvents(body);
  expect(validationCode).toBeUndefined();
  expect(events).toHaveLength(1);
  return mailEventSchema.parse(events[0]);
}

function rejection(body: unknown): EventRejectedError {
  try {
    eventGridEvents(body);
  } catch (error) {
    expect(error).toBeInstanceOf(EventRejectedError);
    return error as EventRejectedError;
  }
  throw new Error('expected the body to be refused');
}

describe('eventGridEvents: EmailDeliveryReportReceived', () => {
  it.each([
    ['Delivered', 'delivered', undefined, 'details for Delivered'],
    ['Bounced', 'bounced', 'hard', 'details for Bounced'],
    ['Suppressed', 'rejected', undefined, 'Suppressed'],
    ['Failed', 'failed', undefined, 'details for Failed'],
    ['Quarantined', 'rejected', undefined, 'Quarantined'],
    ['FilteredSpam', 'rejected', undefined, 'FilteredSpam'],
  ] as const)('maps status %s to %s', (status, type, bounceType, reason) => {
    const event = only([report(status)]);
    expect(event).toMatchObject({
      type,
      provider: 'acs',
      recipient: 'user@example.net',
      providerMessageId: 'op-1',
      eventTime: '2030-01-02T03:00:00.123Z',
      reason,
      diagnostic: `details for ${status}`,
    });
    expect(event.bounceType).toBe(bounceType);
  });

  it('says that an Expanded status is a distribution list, and keeps it as unknown', () => {
    const event = only([report('Expanded')]);
    expect(event.type).toBe('unknown');
    expect(event.reason).toMatch(/distribution list/);
    expect(event.reason).toContain('details for Expanded');
  });

  it('keeps a status it does not know as unknown, naming it', () => {
    const event = only([report('Teleported')]);
    expect(event.type).toBe('unknown');
    expect(event.reason).toContain('Teleported');
    expect(event.bounceType).toBeUndefined();
  });

  it('compares statuses case-insensitively', () => {
    expect(only([report('bounced')])).toMatchObject({ type: 'bounced', bounceType: 'hard' });
  });

  it("takes the event's eventTime when the report has no attempt time, and our Message-ID from internetMessageId", () => {
    const event = only([
      report('Delivered', { deliveryAttemptTimeStamp: undefined, internetMessageId: 'abc.123@mail.example.com' }),
    ]);
    expect(event.eventTime).toBe('2030-01-02T03:04:05.678Z');
    expect(event.messageId).toBe('<abc.123@mail.example.com>');
  });

  it('keeps the single event as raw', () => {
    const one = report('Bounced');
    expect(only([one]).raw).toBe(one);
  });
});

describe('eventGridEvents: EmailEngagementTrackingReportReceived', () => {
  it.each([
    ['View', 'opened'],
    ['view', 'opened'],
    ['Click', 'clicked'],
    ['click', 'clicked'],
  ] as const)('maps engagementType %s to %s', (engagementType, type) => {
    const event = only([engagement(engagementType)]);
    expect(event).toMatchObject({
      type,
      provider: 'acs',
      recipient: 'user@example.net',
      providerMessageId: 'op-2',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
      eventTime: '2030-01-03T10:00:00.500Z',
    });
    expect(event.url).toBe(type === 'clicked' ? 'https://example.org/landing?x=1' : undefined);
  });

  it('leaves recipient, url and userAgent out when the report has none (as in Microsoft’s sample)', () => {
    const event = only([engagement('view', { recipient: undefined, userAgent: '', engagementContext: '' })]);
    expect(event.type).toBe('opened');
    expect('recipient' in event).toBe(false);
    expect('userAgent' in event).toBe(false);
    expect('url' in event).toBe(false);
  });

  it('keeps an engagement type it does not know as unknown', () => {
    const event = only([engagement('Forward')]);
    expect(event.type).toBe('unknown');
    expect(event.reason).toContain('forward');
  });
});

describe('eventGridEvents: batches and schemas', () => {
  it('handles every event of a mixed batch, in order, each with its own raw', () => {
    const batch = [
      report('Delivered'),
      gridEvent('Microsoft.EventGrid.SubscriptionValidationEvent', {
        validationCode: 'code-123',
        validationUrl: 'https://rp.example/validate?id=code-123',
      }),
      engagement('Click'),
      report('Bounced', { recipient: 'gone@example.net' }),
      gridEvent('Microsoft.Storage.BlobCreated', { url: 'https://store.example/x' }),
    ];
    const { validationCode, events } = eventGridEvents(batch);
    expect(validationCode).toBe('code-123');
    expect(events.map((e) => e.type)).toEqual(['delivered', 'clicked', 'bounced', 'unknown']);
    expect(events[2]?.recipient).toBe('gone@example.net');
    expect(events[3]?.reason).toBe('Microsoft.Storage.BlobCreated');
    expect(events.map((e) => e.raw)).toEqual([batch[0], batch[2], batch[3], batch[4]]);
    for (const event of events) mailEventSchema.parse(event);
  });

  it('answers a validation event with its code and no event', () => {
    const { validationCode, events } = eventGridEvents([
      gridEvent('Microsoft.EventGrid.SubscriptionValidationEvent', { validationCode: 'abc-def' }),
    ]);
    expect(validationCode).toBe('abc-def');
    expect(events).toEqual([]);
  });

  it('reads the CloudEvents 1.0 schema, as an array or a single event', () => {
    const cloud = {
      specversion: '1.0',
      id: 'ce-1',
      source: TOPIC,
      subject: 'sender/app@mail.example.com/message/op-9',
      type: 'Microsoft.Communication.EmailDeliveryReportReceived',
      time: '2030-02-01T00:00:00Z',
      datacontenttype: 'application/json',
      data: {
        sender: 'app@mail.example.com',
        recipient: 'cloud@example.net',
        messageId: 'op-9',
        status: 'Suppressed',
        deliveryStatusDetails: { statusMessage: 'on the suppression list' },
      },
    };
    for (const body of [[cloud], cloud]) {
      const event = only(body);
      expect(event).toMatchObject({
        type: 'rejected',
        reason: 'Suppressed',
        diagnostic: 'on the suppression list',
        recipient: 'cloud@example.net',
        providerMessageId: 'op-9',
        eventTime: '2030-02-01T00:00:00.000Z',
      });
    }
  });

  it('refuses what is not Event Grid events with 400', () => {
    for (const body of ['[]', 42, null, undefined, true]) {
      const error = rejection(body);
      expect([error.status, error.source]).toEqual([400, 'acs']);
    }
    expect(rejection([report('Delivered'), 'not an event']).message).toContain('event 1');
    expect(rejection([{ data: {} }]).message).toContain('no eventType');
    expect(rejection([gridEvent('Microsoft.EventGrid.SubscriptionValidationEvent', {})]).message).toContain(
      'validationCode',
    );
  });

  it('accepts an empty batch as no events', () => {
    expect(eventGridEvents([])).toEqual({ events: [] });
  });
});

describe('Event Grid handshakes', () => {
  it('tells a validation request by its aeg-event-type header, whatever the header container', () => {
    expect(EVENT_GRID_VALIDATION_HEADER).toBe('aeg-event-type');
    expect(isValidationRequest(new Headers({ 'Aeg-Event-Type': 'SubscriptionValidation' }))).toBe(true);
    expect(isValidationRequest({ 'aeg-event-type': 'SubscriptionValidation' })).toBe(true);
    expect(isValidationRequest({ 'AEG-EVENT-TYPE': ['subscriptionvalidation'] })).toBe(true);
    expect(isValidationRequest({ 'aeg-event-type': 'Notification' })).toBe(false);
    expect(isValidationRequest(new Headers())).toBe(false);
    expect(isValidationRequest({})).toBe(false);
    expect(isValidationRequest(undefined)).toBe(false);
  });

  it('answers the CloudEvents abuse-protection handshake', () => {
    expect(cloudEventsHandshake({ 'webhook-request-origin': 'eventemitter.example.com' })).toEqual({
      'WebHook-Allowed-Origin': 'eventemitter.example.com',
      'WebHook-Allowed-Rate': '*',
    });
    expect(cloudEventsHandshake(new Headers({ 'aeg-event-type': 'Notification' }))).toBeUndefined();
  });
});

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/events/', import.meta.url));
const haveFixtures = existsSync(FIXTURES);

/** What each published sample must give (files added later are still checked against their own data). */
const EXPECTED: Record<string, string[]> = {
  'acs-eventgrid-batch-delivered-and-view.json': ['delivered', 'opened'],
  'acs-eventgrid-delivery-bounced.json': ['bounced'],
  'acs-eventgrid-delivery-delivered-docs.json': ['delivered'],
  'acs-eventgrid-delivery-delivered.json': ['delivered'],
  'acs-eventgrid-delivery-expanded.json': ['unknown'],
  'acs-eventgrid-delivery-suppressed.json': ['rejected'],
  'acs-eventgrid-engagement-click.json': ['clicked'],
  'acs-eventgrid-engagement-view-docs.json': ['opened'],
  'acs-eventgrid-engagement-view.json': ['opened'],
};

describe.skipIf(!haveFixtures)(
  'published samples in shared/fixtures/events (skipped when that folder is absent)',
  () => {
    const files = haveFixtures ? readdirSync(FIXTURES).filter((f) => /^acs-eventgrid-.*\.json$/.test(f)) : [];

    it('finds the samples', () => {
      expect(files.length).toBeGreaterThanOrEqual(Object.keys(EXPECTED).length);
    });

    it.each(files)('%s', (file) => {
      // yaml's parser, not JSON.parse: Microsoft's published delivery sample has a trailing comma (not strict JSON);
      // YAML 1.2 flow collections accept it, and strict JSON parses the same through it.
      const body = parseYaml(readFileSync(`${FIXTURES}${file}`, 'utf8')) as Array<{ data: Record<string, unknown> }>;
      const { events, validationCode } = eventGridEvents(body);
      expect(validationCode).toBeUndefined();
      expect(events).toHaveLength(body.length);
      const expected = EXPECTED[file];
      if (expected) expect(events.map((e) => e.type)).toEqual(expected);
      events.forEach((event, i) => {
        const data = body[i]!.data;
        mailEventSchema.parse(event);
        expect(event.recipient).toBe(data.recipient);
        expect(event.providerMessageId).toBe(data.messageId);
        expect(event.providerMessageId).toMatch(/^[0-9a-f-]{36}$/);
        expect(event.raw).toBe(body[i]);
      });
    });

    it('the docs delivery sample is not strict JSON (trailing comma), which is why yaml parses the samples', () => {
      const textOf = readFileSync(`${FIXTURES}acs-eventgrid-delivery-delivered-docs.json`, 'utf8');
      expect(() => JSON.parse(textOf)).toThrow();
      expect(eventGridEvents(parseYaml(textOf)).events[0]?.recipient).toBe('receiver@azure.com');
    });

    it('the docs engagement sample has no recipient and a lower-case view', () => {
      const body = parseYaml(readFileSync(`${FIXTURES}acs-eventgrid-engagement-view-docs.json`, 'utf8'));
      const [event] = eventGridEvents(body).events;
      expect(event?.type).toBe('opened');
      expect(event?.recipient).toBeUndefined();
    });

    it('eventgrid-subscription-validation.json gives its validation code', () => {
      const body = JSON.parse(readFileSync(`${FIXTURES}eventgrid-subscription-validation.json`, 'utf8'));
      const answer = JSON.parse(readFileSync(`${FIXTURES}eventgrid-subscription-validation-response.json`, 'utf8'));
      const { validationCode, events } = eventGridEvents(body);
      expect(validationCode).toBe('512d38b6-c7b8-40c8-89fe-f46f9e9622b6');
      expect({ validationResponse: validationCode }).toEqual(answer);
      expect(events).toEqual([]);
    });
  },
);
