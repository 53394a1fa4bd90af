import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventRejectedError } from '../../core/errors.ts';
import { type MailEvent, mailEventSchema } from '../../core/events/event.ts';
import { isSesRecord, sesEventBridgeEvents, sesEvents } from '../../core/events/sources/ses.ts';

// Payloads written from the fields the SES developer guide documents (event publishing and identity notifications).
const SES_ID = '0100019a-test-4c2e-9d5b-ses-message-id-000000';
const OUR_ID = '<7f3e9a@mailroute.test>';

function mail(overrides: Record<string, unknown> = {}) {
  return {
    timestamp: '2026-03-01T10:00:00.000Z',
    source: 'sender@example.com',
    sendingAccountId: '123456789012',
    messageId: SES_ID,
    destination: ['ana@example.com', 'bo@example.com'],
    headersTruncated: false,
    headers: [
      { name: 'From', value: 'sender@example.com' },
      { name: 'Message-ID', value: OUR_ID },
    ],
    commonHeaders: { from: ['sender@example.com'], to: ['ana@example.com', 'bo@example.com'], messageId: OUR_ID },
    tags: { 'ses:configuration-set': ['mailroute'], campaign: ['spring'] },
    ...overrides,
  };
}

/** Every event must be a valid MailEvent: the schema is strict, so a stray field fails too. */
function events(record: unknown): MailEvent[] {
  const list = sesEvents(record);
  for (const event of list) mailEventSchema.parse(event);
  return list;
}

function rejection(run: () => unknown): EventRejectedError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(EventRejectedError);
    return error as EventRejectedError;
  }
  throw new Error('expected an EventRejectedError');
}

describe('SES event publishing records', () => {
  it('Send: one sent event per destination, with both ids, the tags and the mail time', () => {
    const record = { eventType: 'Send', mail: mail(), send: {} };
    const list = events(record);
    expect(list).toEqual([
      {
        type: 'sent',
        provider: 'ses',
        eventTime: '2026-03-01T10:00:00.000Z',
        recipient: 'ana@example.com',
        providerMessageId: SES_ID,
        messageId: OUR_ID,
        tags: { 'ses:configuration-set': ['mailroute'], campaign: ['spring'] },
        raw: record,
      },
      expect.objectContaining({ type: 'sent', recipient: 'bo@example.com', providerMessageId: SES_ID }),
    ]);
    expect(list[0]!.raw).toBe(record);
  });

  it('Delivery: the delivery recipients only, at the delivery time, with the SMTP reply', () => {
    const list = events({
      eventType: 'Delivery',
      mail: mail(),
      delivery: {
        timestamp: '2026-03-01T10:00:03.500Z',
        processingTimeMillis: 3500,
        recipients: ['bo@example.com'],
        smtpResponse: '250 2.0.0 OK 1700000000 queued',
        reportingMTA: 'a1-2.smtp-out.amazonses.com',
      },
    });
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      type: 'delivered',
      recipient: 'bo@example.com',
      eventTime: '2026-03-01T10:00:03.500Z',
      diagnostic: '250 2.0.0 OK 1700000000 queued',
      status: '2.0.0',
    });
  });

  it('Bounce with several bounced recipients: one event each, with its own status and diagnostic', () => {
    const list = events({
      eventType: 'Bounce',
      mail: mail(),
      bounce: {
        bounceType: 'Permanent',
        bounceSubType: 'General',
        bouncedRecipients: [
          {
            emailAddress: 'ana@example.com',
            action: 'failed',
            status: '5.1.1',
            diagnosticCode: 'smtp; 550 5.1.1 no such user',
          },
          {
            emailAddress: 'bo@example.com',
            action: 'failed',
            status: '5.2.1',
            diagnosticCode: 'smtp; 550 5.2.1 disabled',
          },
        ],
        timestamp: '2026-03-01T10:00:05.000Z',
        feedbackId: 'feedback-1',
        reportingMTA: 'dsn; a1-2.smtp-out.amazonses.com',
      },
    });
    expect(list.map((e) => [e.type, e.recipient, e.bounceType, e.reason, e.status, e.diagnostic])).toEqual([
      ['bounced', 'ana@example.com', 'hard', 'Permanent/General', '5.1.1', 'smtp; 550 5.1.1 no such user'],
      ['bounced', 'bo@example.com', 'hard', 'Permanent/General', '5.2.1', 'smtp; 550 5.2.1 disabled'],
    ]);
    expect(list.every((e) => e.eventTime === '2026-03-01T10:00:05.000Z')).toBe(true);
  });

  it('a Transient bounce is soft, an Undetermined one undetermined; a status missing is read from the diagnostic', () => {
    const soft = events({
      eventType: 'Bounce',
      mail: mail({ destination: ['ana@example.com'] }),
      bounce: {
        bounceType: 'Transient',
        bounceSubType: 'MailboxFull',
        bouncedRecipients: [{ emailAddress: 'ana@example.com', diagnosticCode: 'smtp; 452 4.2.2 mailbox full' }],
        timestamp: '2026-03-01T11:00:00.000Z',
      },
    });
    expect(soft).toEqual([
      expect.objectContaining({
        type: 'bounced',
        bounceType: 'soft',
        reason: 'Transient/MailboxFull',
        status: '4.2.2',
        recipient: 'ana@example.com',
      }),
    ]);
    const undetermined = events({
      eventType: 'Bounce',
      mail: mail(),
      bounce: {
        bounceType: 'Undetermined',
        bounceSubType: 'Undetermined',
        bouncedRecipients: [{ emailAddress: 'bo@example.com' }],
      },
    });
    expect(undetermined).toEqual([
      expect.objectContaining({
        bounceType: 'undetermined',
        reason: 'Undetermined/Undetermined',
        recipient: 'bo@example.com',
      }),
    ]);
    expect(undetermined[0]).not.toHaveProperty('status');
  });

  it('Complaint: the feedback type, else the complaint sub-type, else "complaint"', () => {
    const complaint = (fields: Record<string, unknown>) =>
      events({
        eventType: 'Complaint',
        mail: mail(),
        complaint: {
          complainedRecipients: [{ emailAddress: 'bo@example.com' }],
          timestamp: '2026-03-02T08:00:00.000Z',
          feedbackId: 'feedback-2',
          ...fields,
        },
      });
    expect(complaint({ complaintFeedbackType: 'abuse', complaintSubType: null })).toEqual([
      expect.objectContaining({
        type: 'complained',
        recipient: 'bo@example.com',
        reason: 'abuse',
        eventTime: '2026-03-02T08:00:00.000Z',
      }),
    ]);
    expect(complaint({ complaintSubType: 'OnAccountSuppressionList' })[0]!.reason).toBe('OnAccountSuppressionList');
    expect(complaint({})[0]!.reason).toBe('complaint');
  });

  it('Reject: rejected for every destination, with the reason, at the mail time', () => {
    expect(events({ eventType: 'Reject', mail: mail(), reject: { reason: 'Bad content' } })).toEqual([
      expect.objectContaining({
        type: 'rejected',
        recipient: 'ana@example.com',
        reason: 'Bad content',
        eventTime: '2026-03-01T10:00:00.000Z',
      }),
      expect.objectContaining({ type: 'rejected', recipient: 'bo@example.com', reason: 'Bad content' }),
    ]);
  });

  it('DeliveryDelay: deferred for the delayed recipients, with the delay type, status and diagnostic', () => {
    const list = events({
      eventType: 'DeliveryDelay',
      mail: mail(),
      deliveryDelay: {
        timestamp: '2026-03-01T10:30:00.000Z',
        delayType: 'MailboxFull',
        expirationTime: '2026-03-01T20:30:00.000Z',
        delayedRecipients: [
          { emailAddress: 'ana@example.com', status: '4.2.2', diagnosticCode: 'smtp; 452 4.2.2 over quota' },
        ],
      },
    });
    expect(list).toEqual([
      expect.objectContaining({
        type: 'deferred',
        recipient: 'ana@example.com',
        reason: 'MailboxFull',
        status: '4.2.2',
        diagnostic: 'smtp; 452 4.2.2 over quota',
        eventTime: '2026-03-01T10:30:00.000Z',
      }),
    ]);
  });

  it('Open and Click: opened / clicked with the user agent, and the link for a click', () => {
    const userAgent = 'Mozilla/5.0 (X11; Linux x86_64)';
    const single = mail({ destination: ['ana@example.com'] });
    expect(
      events({
        eventType: 'Open',
        mail: single,
        open: { ipAddress: '192.0.2.1', timestamp: '2026-03-01T12:00:00.000Z', userAgent },
      }),
    ).toEqual([
      expect.objectContaining({
        type: 'opened',
        recipient: 'ana@example.com',
        userAgent,
        eventTime: '2026-03-01T12:00:00.000Z',
      }),
    ]);
    const click = events({
      eventType: 'Click',
      mail: single,
      click: {
        ipAddress: '192.0.2.1',
        link: 'https://example.com/offer',
        linkTags: {},
        timestamp: '2026-03-01T12:01:00.000Z',
        userAgent,
      },
    });
    expect(click).toEqual([expect.objectContaining({ type: 'clicked', url: 'https://example.com/offer', userAgent })]);
    expect(events({ eventType: 'Open', mail: single, open: {} })[0]).not.toHaveProperty('url');
  });

  it('Rendering Failure: failed, with the error message as the reason', () => {
    expect(
      events({
        eventType: 'Rendering Failure',
        mail: mail({ destination: ['ana@example.com'] }),
        failure: { errorMessage: "Attribute 'name' is not present in the rendering data.", templateName: 'Welcome' },
      }),
    ).toEqual([
      expect.objectContaining({
        type: 'failed',
        recipient: 'ana@example.com',
        reason: "Attribute 'name' is not present in the rendering data.",
      }),
    ]);
  });

  it('Subscription: unsubscribed for unsubscribe-all or a topic newly opted out; an opt-in is unknown', () => {
    const subscription = (newTopicPreferences: unknown, oldTopicPreferences: unknown) =>
      events({
        eventType: 'Subscription',
        mail: mail({ destination: ['ana@example.com'] }),
        subscription: {
          contactList: 'Newsletter',
          timestamp: '2026-03-03T09:00:00.000Z',
          source: 'UnsubscribeHeader',
          newTopicPreferences,
          oldTopicPreferences,
        },
      });
    const optIn = {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: 'News', subscriptionStatus: 'OptIn' }],
    };
    const optOut = {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: 'News', subscriptionStatus: 'OptOut' }],
    };
    expect(subscription({ ...optIn, unsubscribeAll: true }, optIn)).toEqual([
      expect.objectContaining({
        type: 'unsubscribed',
        recipient: 'ana@example.com',
        reason: 'UnsubscribeHeader: all topics',
        eventTime: '2026-03-03T09:00:00.000Z',
      }),
    ]);
    expect(subscription(optOut, optIn)).toEqual([
      expect.objectContaining({ type: 'unsubscribed', reason: 'UnsubscribeHeader: topic News' }),
    ]);
    expect(subscription(optIn, optOut)).toEqual([
      expect.objectContaining({ type: 'unknown', recipient: 'ana@example.com' }),
    ]);
    expect(subscription(optOut, optOut)[0]!.type).toBe('unknown');
  });

  it('an event type it does not know is unknown, for every destination, kept whole in raw', () => {
    const record = { eventType: 'SomethingNew', mail: mail(), somethingNew: { timestamp: '2026-03-04T00:00:00.000Z' } };
    const list = events(record);
    expect(list.map((e) => [e.type, e.recipient, e.eventTime])).toEqual([
      ['unknown', 'ana@example.com', '2026-03-04T00:00:00.000Z'],
      ['unknown', 'bo@example.com', '2026-03-04T00:00:00.000Z'],
    ]);
    expect(list[1]!.raw).toBe(record);
  });

  it('takes our Message-ID from the headers when commonHeaders lacks it, and drops one that is only the SES id', () => {
    const { commonHeaders: _, ...withoutCommon } = mail();
    expect(events({ eventType: 'Send', mail: withoutCommon, send: {} })[0]!.messageId).toBe(OUR_ID);
    const sesOwn = mail({ headers: [], commonHeaders: { messageId: SES_ID } });
    const [event] = events({ eventType: 'Send', mail: sesOwn, send: {} });
    expect(event).not.toHaveProperty('messageId');
    expect(event!.providerMessageId).toBe(SES_ID);
    const bare = mail({ headers: [], commonHeaders: { messageId: 'abc@mailroute.test' } });
    expect(events({ eventType: 'Send', mail: bare, send: {} })[0]!.messageId).toBe('<abc@mailroute.test>');
  });

  it('refuses what is not an SES record with a 400', () => {
    for (const input of [null, 'Bounce', [], { mail: mail() }, { eventType: '' }]) {
      const error = rejection(() => sesEvents(input));
      expect(error.status).toBe(400);
      expect(error.source).toBe('ses');
    }
    expect(isSesRecord({ notificationType: 'Bounce' })).toBe(true);
    expect(isSesRecord({ Type: 'Notification' })).toBe(false);
  });
});

describe('SES identity notifications (notificationType)', () => {
  const identityMail = () => {
    const { tags: _, ...rest } = mail();
    return rest;
  };

  it('Bounce, Complaint and Delivery map as event publishing does, without tags', () => {
    const bounce = events({
      notificationType: 'Bounce',
      mail: identityMail(),
      bounce: {
        bounceType: 'Permanent',
        bounceSubType: 'Suppressed',
        bouncedRecipients: [{ emailAddress: 'ana@example.com', status: '5.1.1', action: 'failed' }],
        timestamp: '2026-03-05T00:00:00.000Z',
      },
    });
    expect(bounce).toEqual([
      expect.objectContaining({
        type: 'bounced',
        bounceType: 'hard',
        reason: 'Permanent/Suppressed',
        recipient: 'ana@example.com',
        status: '5.1.1',
      }),
    ]);
    expect(bounce[0]).not.toHaveProperty('tags');
    const complaint = events({
      notificationType: 'Complaint',
      mail: identityMail(),
      complaint: { complainedRecipients: [{ emailAddress: 'bo@example.com' }], timestamp: '2026-03-05T01:00:00.000Z' },
    });
    expect(complaint).toEqual([
      expect.objectContaining({ type: 'complained', recipient: 'bo@example.com', reason: 'complaint' }),
    ]);
    const delivery = events({
      notificationType: 'Delivery',
      mail: identityMail(),
      delivery: {
        timestamp: '2026-03-05T02:00:00.000Z',
        recipients: ['ana@example.com', 'bo@example.com'],
        smtpResponse: '250 ok',
      },
    });
    expect(delivery.map((e) => [e.type, e.recipient, e.providerMessageId, e.messageId])).toEqual([
      ['delivered', 'ana@example.com', SES_ID, OUR_ID],
      ['delivered', 'bo@example.com', SES_ID, OUR_ID],
    ]);
    expect(delivery[0]).not.toHaveProperty('status');
  });

  it('a notification naming no recipient (the subscription notice) is one unknown event', () => {
    const list = events({
      notificationType: 'AmazonSnsSubscriptionSucceeded',
      message: 'You have successfully subscribed',
    });
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ type: 'unknown', provider: 'ses' });
    expect(list[0]).not.toHaveProperty('recipient');
  });
});

describe('SES events through EventBridge', () => {
  const bridge = (detailType: string, detail: unknown, source = 'aws.ses') => ({
    version: '0',
    id: 'f1a2b3c4-0000-4000-8000-000000000001',
    'detail-type': detailType,
    source,
    account: '123456789012',
    time: '2026-03-06T00:00:09Z',
    region: 'us-east-1',
    resources: ['arn:aws:ses:us-east-1:123456789012:configuration-set/mailroute'],
    detail,
  });
  const bounceDetail = {
    eventType: 'Bounce',
    mail: mail(),
    bounce: {
      bounceType: 'Transient',
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: 'bo@example.com', status: '4.4.7' }],
      timestamp: '2026-03-06T00:00:08.000Z',
    },
  };

  it('"Email Bounced": the detail record as events, the whole EventBridge event as raw', () => {
    const event = bridge('Email Bounced', bounceDetail);
    const list = sesEventBridgeEvents(event);
    for (const each of list) mailEventSchema.parse(each);
    expect(list).toEqual([
      expect.objectContaining({
        type: 'bounced',
        bounceType: 'soft',
        recipient: 'bo@example.com',
        status: '4.4.7',
        eventTime: '2026-03-06T00:00:08.000Z',
      }),
    ]);
    expect(list[0]!.raw).toBe(event);
  });

  it('a detail without eventType takes it from the detail-type; the event time is the last resort', () => {
    const { eventType: _, ...detail } = { eventType: 'Send', mail: mail({ timestamp: undefined }), send: {} };
    expect(sesEventBridgeEvents(bridge('Email Sent', detail))).toEqual([
      expect.objectContaining({ type: 'sent', recipient: 'ana@example.com', eventTime: '2026-03-06T00:00:09.000Z' }),
      expect.objectContaining({ type: 'sent', recipient: 'bo@example.com' }),
    ]);
  });

  it("SES's account events (advisor, sending status) give no event; other shapes are refused with a 400", () => {
    expect(sesEventBridgeEvents(bridge('Sending Status Disabled', { status: 'DISABLED' }))).toEqual([]);
    for (const input of [
      bridge('Email Bounced', bounceDetail, 'aws.sns'),
      bounceDetail,
      bridge('Email Bounced', { eventType: 'Bounce' }),
      null,
    ]) {
      expect(rejection(() => sesEventBridgeEvents(input)).status).toBe(400);
    }
  });
});

// The official samples, beside the checkout: not copied into the project (their licence is the docs').
const fixtures = new URL('../../../shared/fixtures/events/', import.meta.url);
const haveFixtures = existsSync(fixtures);

/** What each published sample must give: type, the recipients (in order), and the SES message id. */
const EXPECTED: Record<string, [MailEvent['type'], string[], string]> = {
  'ses-sns-bounce-permanent.json': [
    'bounced',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-click.json': [
    'clicked',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-complaint.json': [
    'complained',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-delivery.json': [
    'delivered',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-deliverydelay.json': [
    'deferred',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-identity-bounce-with-dsn.json': [
    'bounced',
    ['jane@example.com'],
    '00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000',
  ],
  'ses-sns-identity-bounce-without-dsn.json': [
    'bounced',
    ['jane@example.com', 'richard@example.com'],
    '00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000',
  ],
  'ses-sns-identity-complaint-with-feedback-report.json': [
    'complained',
    ['richard@example.com'],
    '000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000',
  ],
  'ses-sns-identity-complaint-without-feedback-report.json': [
    'complained',
    ['richard@example.com'],
    '0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000',
  ],
  'ses-sns-identity-delivery.json': [
    'delivered',
    ['jane@example.com'],
    '0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000',
  ],
  'ses-sns-open.json': [
    'opened',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  // The published Reject sample's destination is the sender's own address.
  'ses-sns-reject.json': [
    'rejected',
    ['sender@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-rendering-failure.json': [
    'failed',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-send.json': [
    'sent',
    ['recipient@example.com'],
    'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
  ],
  'ses-sns-subscription.json': [
    'unsubscribed',
    ['recipient@example.com'],
    'EXAMPLEe4bccb684-777bc8de-afa7-4970-92b0-f515137b1497-000000',
  ],
};

describe('the official SES samples', () => {
  it.skipIf(!haveFixtures)(
    haveFixtures
      ? `maps every ses-sns-*.json in ${fileURLToPath(fixtures)}`
      : `skipped: no official samples, ${fileURLToPath(fixtures)} is absent`,
    () => {
      const files = readdirSync(fixtures).filter((name) => /^ses-sns-.*\.json$/.test(name));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const record = JSON.parse(readFileSync(new URL(file, fixtures), 'utf8'));
        const list = events(record);
        const expected = EXPECTED[file];
        if (expected) {
          const [type, recipients, providerMessageId] = expected;
          expect(
            list.map((e) => [e.type, e.recipient, e.providerMessageId]),
            file,
          ).toEqual(recipients.map((recipient) => [type, recipient, providerMessageId]));
        } else {
          // A sample added since: at least a known type, about recipients of the message, with its SES id.
          expect(
            list.every((e) => e.type !== 'unknown' && e.providerMessageId === record.mail?.messageId),
            file,
          ).toBe(true);
          expect(
            list.every((e) => (record.mail?.destination ?? []).includes(e.recipient)),
            file,
          ).toBe(true);
        }
      }
      const bounce = sesEvents(JSON.parse(readFileSync(new URL('ses-sns-bounce-permanent.json', fixtures), 'utf8')));
      expect(bounce[0]).toMatchObject({
        bounceType: 'hard',
        reason: 'Permanent/General',
        status: '5.1.1',
        diagnostic: 'smtp; 550 5.1.1 user unknown',
      });
      const identity = sesEvents(JSON.parse(readFileSync(new URL('ses-sns-identity-delivery.json', fixtures), 'utf8')));
      expect(identity[0]!.messageId).toBe('custom-message-ID');
    },
  );
});
