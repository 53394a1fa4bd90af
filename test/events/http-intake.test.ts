import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import { type SnsSigner, startSnsSigner } from '../helpers/sns-signer.ts';

// `POST /v1/events/{source}` on the local API, as every cloud's HTTP function serves it: SNS envelopes signed by
// a test key whose certificate is served over loopback HTTPS; Event Grid, OCI and DSN bodies with the webhook secret.

const SECRET = 'events-webhook-secret-for-tests';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:mailroute-events';
const SAMPLES = new URL('../../../shared/fixtures/events/', import.meta.url);

let signer: SnsSigner;
let api: LocalApi;
let mailer: Mailer;
let store: MemoryStore;
const confirmations: string[] = [];

/** What the API answers: `ok`, counts, or an `error` with its code, source and message. */
type Answer = {
  ok?: boolean;
  events?: number;
  suppressed?: number;
  validationResponse?: string;
  error: { code: string; source?: string; message: string };
};

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Answer };
}

const bounceRecord = (recipient: string, messageId = 'ses-message-1') => ({
  eventType: 'Bounce',
  bounce: {
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: recipient, status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }],
    timestamp: '2026-12-01T10:00:00.000Z',
    feedbackId: 'feedback',
  },
  mail: { timestamp: '2026-12-01T09:59:59.000Z', source: 'app@example.com', messageId, destination: [recipient] },
});

const notification = (message: unknown, options: Parameters<SnsSigner['sign']>[1] = {}, topic = TOPIC) =>
  JSON.stringify(signer.sign({ Type: 'Notification', Message: JSON.stringify(message), TopicArn: topic }, options));

/** A snapshot of every record in the store: a refused event must leave it exactly as it was. */
const snapshot = async () => JSON.stringify((await store.list!('')).records.map((r) => [r.key, r.value]));

/** The official SNS HTTP requests (`.http`: request line, headers, blank line, body), when the samples are there. */
const httpSamples = existsSync(SAMPLES)
  ? readdirSync(SAMPLES)
      .filter((f) => f.endsWith('.http'))
      .map((file) => {
        const text = readFileSync(new URL(file, SAMPLES), 'utf8');
        return { file, envelope: JSON.parse(text.slice(text.search(/\r?\n\r?\n/)).trim()) as Record<string, string> };
      })
  : [];

beforeAll(async () => {
  signer = await startSnsSigner(TOPIC);
  store = new MemoryStore();
  vi.stubEnv('MR_EVENTS_SECRET', SECRET);
  const config = validateConfig(
    {
      providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: '.mailroute/test-events-outbox' }],
      events: {
        sns: { topicArns: [TOPIC, ...new Set(httpSamples.map((h) => h.envelope.TopicArn!))] },
        webhookSecret: { env: 'MR_EVENTS_SECRET' },
      },
    },
    'test',
    builtInProviders,
  );
  mailer = new Mailer(config, createAdapter, { providers: builtInProviders, store });
  const fakeFetch = (async (url: string | URL) => {
    confirmations.push(String(url));
    return new Response('<ConfirmSubscriptionResponse/>', { status: 200 });
  }) as typeof fetch;
  api = await startLocalApi(mailer, { events: { snsAgent: signer.agent, fetch: fakeFetch } });
});
afterAll(async () => {
  await api.close();
  await mailer.close();
  await signer.stop();
  vi.unstubAllEnvs();
});

describe('POST /v1/events/ses: SNS messages, verified', () => {
  it('applies a signed SES bounce: the recipient is suppressed', async () => {
    const answer = await post('/v1/events/ses', notification(bounceRecord('signed@example.org')));
    expect(answer).toEqual({ status: 200, body: { ok: true, events: 1, suppressed: 1 } });
    expect(await mailer.events.suppressions.get('signed@example.org')).toMatchObject({
      reason: 'bounced',
      provider: 'ses',
    });
  });

  it.each([
    [
      'a tampered message',
      () => {
        const envelope = JSON.parse(notification(bounceRecord('victim@example.org')));
        envelope.Message = JSON.stringify(bounceRecord('other-victim@example.org'));
        return JSON.stringify(envelope);
      },
      403,
      /signature does not verify/,
    ],
    [
      'a topic not on the allowlist',
      () => notification(bounceRecord('victim@example.org'), {}, 'arn:aws:sns:eu-west-1:999999999999:attacker'),
      403,
      /not in events\.sns\.topicArns/,
    ],
    [
      'a certificate URL off AWS',
      () =>
        notification(bounceRecord('victim@example.org'), {
          certUrl: 'https://evil.example/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
        }),
      403,
      /not an AWS SNS host/,
    ],
    [
      'a bare SES record, without an SNS envelope',
      () => JSON.stringify(bounceRecord('victim@example.org')),
      401,
      /only inside a signed SNS message/,
    ],
    ['a body that is not JSON', () => 'bounce!', 400, /not JSON/],
  ])('refuses %s with a clear error and no state change', async (_, body, status, message) => {
    const before = await snapshot();
    const answer = await post('/v1/events/ses', body());
    expect(answer.status).toBe(status);
    expect(answer.body.ok).toBe(false);
    expect(answer.body.error).toMatchObject({ code: 'EVENT_REJECTED', source: 'ses' });
    expect(answer.body.error.message).toMatch(message);
    expect(await snapshot()).toBe(before);
  });

  it('confirms a signed SubscriptionConfirmation by visiting its SubscribeURL once', async () => {
    const subscribe = `https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=abc`;
    const body = signer.sign({
      Type: 'SubscriptionConfirmation',
      Message: 'confirm',
      Token: 'abc',
      SubscribeURL: subscribe,
      TopicArn: TOPIC,
    });
    const answer = await post('/v1/events/ses', JSON.stringify(body));
    expect(answer).toEqual({ status: 200, body: { ok: true, confirmed: true, topicArn: TOPIC } });
    expect(confirmations).toEqual([subscribe]);
  });
});

describe('POST /v1/events/{acs,oci,dsn}: the webhook secret', () => {
  const batch = [
    {
      id: 'e1',
      eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
      subject: 'sender/app@example.com/message/op-1',
      eventTime: '2026-12-01T10:00:00Z',
      dataVersion: '1.0',
      data: {
        sender: 'app@example.com',
        recipient: 'acs-bounce@example.org',
        messageId: 'op-1',
        status: 'Bounced',
        deliveryStatusDetails: { statusMessage: '550 5.1.1 no such user' },
        deliveryAttemptTimeStamp: '2026-12-01T10:00:00Z',
      },
    },
    {
      id: 'e2',
      eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
      subject: 'sender/app@example.com/message/op-2',
      eventTime: '2026-12-01T10:00:01Z',
      dataVersion: '1.0',
      data: {
        sender: 'app@example.com',
        recipient: 'fine@example.org',
        messageId: 'op-2',
        status: 'Delivered',
        deliveryAttemptTimeStamp: '2026-12-01T10:00:01Z',
      },
    },
    {
      id: 'e3',
      eventType: 'Microsoft.Communication.EmailEngagementTrackingReportReceived',
      subject: 'sender/app@example.com/message/op-2',
      eventTime: '2026-12-01T10:05:00Z',
      dataVersion: '1.0',
      data: {
        sender: 'app@example.com',
        recipient: 'fine@example.org',
        messageId: 'op-2',
        engagementType: 'View',
        userActionTimeStamp: '2026-12-01T10:05:00Z',
      },
    },
  ];

  it('refuses an Event Grid batch without the secret, or with a wrong one, and changes nothing', async () => {
    const before = await snapshot();
    for (const path of ['/v1/events/acs', '/v1/events/acs?secret=wrong']) {
      const answer = await post(path, JSON.stringify(batch));
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({
        code: 'EVENT_REJECTED',
        message: expect.stringMatching(/webhook secret/),
      });
    }
    expect(await snapshot()).toBe(before);
  });

  it('applies every event of a mixed batch, and answers the subscription handshake', async () => {
    const answer = await post(`/v1/events/acs?secret=${SECRET}`, JSON.stringify(batch));
    expect(answer).toEqual({ status: 200, body: { ok: true, events: 3, suppressed: 1 } });
    expect(await mailer.events.suppressions.get('acs-bounce@example.org')).toMatchObject({ provider: 'acs' });
    const validation = [
      {
        id: 'v',
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        subject: '',
        eventTime: '2026-12-01T10:00:00Z',
        dataVersion: '1',
        data: { validationCode: 'code-123', validationUrl: 'https://rp-eastus2.eventgrid.azure.net/x' },
      },
    ];
    const handshake = await post(`/v1/events/acs?secret=${SECRET}`, JSON.stringify(validation), {
      'aeg-event-type': 'SubscriptionValidation',
    });
    expect(handshake).toEqual({ status: 200, body: { validationResponse: 'code-123' } });
  });

  it('takes OCI log records with the secret as a bearer token', async () => {
    const records = [
      {
        id: 'log-1',
        source: 'emaildelivery',
        specversion: '1.0',
        time: '2026-12-01T10:00:00.000Z',
        type: 'com.oraclecloud.emaildelivery.emaildomain.outboundrelayed',
        oracle: {
          compartmentid: 'ocid1.compartment.oc1..x',
          ingestedtime: '2026-12-01T10:00:01.000Z',
          loggroupid: 'g',
          tenantid: 't',
        },
        data: {
          action: 'bounce',
          recipient: 'oci-bounce@example.org',
          messageId: '<m-1@example.com>',
          smtpStatus: '550 5.1.1 unknown user',
          bounceCategory: 'hard',
        },
      },
    ];
    expect((await post('/v1/events/oci', JSON.stringify(records))).status).toBe(401);
    const answer = await post('/v1/events/oci', JSON.stringify(records), { authorization: `Bearer ${SECRET}` });
    expect(answer).toEqual({ status: 200, body: { ok: true, events: 1, suppressed: 1 } });
  });

  it('takes a DSN as message/rfc822 text', async () => {
    const dsn = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>',
      'To: app@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Date: Tue, 01 Dec 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.net',
      '',
      'Final-Recipient: rfc822; dsn-bounce@example.org',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
      '',
      '--b1--',
      '',
    ].join('\r\n');
    const answer = await post(`/v1/events/dsn?secret=${SECRET}`, dsn, { 'content-type': 'message/rfc822' });
    expect(answer).toEqual({ status: 200, body: { ok: true, events: 1, suppressed: 1 } });
    expect(await mailer.events.suppressions.get('dsn-bounce@example.org')).toMatchObject({ reason: 'bounced' });
  });

  it('names the sources it has for an unknown one', async () => {
    const answer = await post('/v1/events/sendgrid', '{}');
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'no event source "sendgrid" (have: ses, acs, oci, dsn)' },
    });
  });
});

describe.skipIf(!existsSync(SAMPLES))(
  `the official samples through the HTTP route (skipped when ${SAMPLES.pathname} is absent)`,
  () => {
    const files = existsSync(SAMPLES) ? readdirSync(SAMPLES) : [];
    const read = (f: string) => readFileSync(new URL(f, SAMPLES), 'utf8');

    it.each(files.filter((f) => /^ses-sns-.*\.json$/.test(f)))('%s, inside a signed SNS message', async (file) => {
      const answer = await post('/v1/events/ses', notification(JSON.parse(read(file))));
      expect(answer.status).toBe(200);
      expect(answer.body.events).toBeGreaterThan(0);
    });

    it.each(files.filter((f) => /^acs-eventgrid-.*\.json$/.test(f) && !f.endsWith('-docs.json')))(
      '%s',
      async (file) => {
        const answer = await post(`/v1/events/acs?secret=${SECRET}`, read(file));
        expect(answer.status).toBe(200);
        expect(answer.body.events).toBe([JSON.parse(read(file))].flat().length);
      },
    );

    // The published signatures were truncated: each request is signed again by the test key, every other field
    // as published, so its shape goes through the route as SNS would send it.
    it.each(httpSamples)('$file, signed again by the test key', async ({ envelope }) => {
      const { Signature: _, SigningCertURL: __, SignatureVersion: ___, UnsubscribeURL: ____, ...fields } = envelope;
      const signed = signer.sign(fields as unknown as Parameters<SnsSigner['sign']>[0]);
      const before = confirmations.length;
      const answer = await post('/v1/events/ses', JSON.stringify(signed), { 'x-amz-sns-message-type': envelope.Type! });
      if (envelope.Type === 'Notification') {
        // A topic's plain message ("Hello world!") is no SES event: refused, nothing applied.
        expect(answer.status).toBe(400);
        expect(answer.body.error.code).toBe('EVENT_REJECTED');
      } else {
        expect(answer.status).toBe(200);
        const confirmed = envelope.Type === 'SubscriptionConfirmation';
        expect(answer.body).toMatchObject({ ok: true, confirmed, topicArn: envelope.TopicArn });
        expect(confirmations.slice(before)).toEqual(confirmed ? [envelope.SubscribeURL] : []);
      }
    });

    it.each(files.filter((f) => /^dsn-.*\.eml$/.test(f)))('%s', async (file) => {
      const answer = await post(`/v1/events/dsn?secret=${SECRET}`, read(file), { 'content-type': 'message/rfc822' });
      expect(answer.status).toBe(200);
      expect(answer.body.events).toBeGreaterThan(0);
    });
  },
);
