import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { APIGatewayProxyStructuredResultV2, Context, SNSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IntakeOptions } from '../../core/events/intake.ts';
import type { Mailer } from '../../core/mailer.ts';
import { type SnsSigner, startSnsSigner } from '../helpers/sns-signer.ts';
import {
  type AwsWorld,
  captureOutput,
  httpEvent,
  lambdaContext,
  routingConfig,
  SMTP_PASSWORD,
  SMTP_USER,
  startAwsWorld,
} from './aws-lambda.ts';

// The events function (functions/aws/events.ts) driven as Lambda drives it: SNS records signed like SNS signs them
// (the signing certificate fetched over real TLS from a loopback server standing in for sns.us-east-1.amazonaws.com),
// EventBridge events, and function URL requests; the state table is DynamoDB (dynalite).

type EventsHandler = (event: unknown, context: Context) => Promise<unknown>;

let world: AwsWorld;
let signer: SnsSigner;
let output: ReturnType<typeof captureOutput>;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:mailroute-dev-ses-events';

/** A new container with the events handler given this intake (the test's certificate agent, a fetch). */
async function coldEvents(intake: IntakeOptions = { snsAgent: signer.agent }): Promise<EventsHandler> {
  vi.resetModules();
  return (await import('../../functions/aws/events.ts')).eventsHandler(intake) as unknown as EventsHandler;
}
/** The container's mailer, the one the handler just used (same module graph). */
const containerMailer = async (): Promise<Mailer> => (await import('../../functions/aws/config.ts')).mailer();

const mail = (recipients: string[]) => ({
  timestamp: '2026-11-29T10:00:00.000Z',
  source: 'app@example.com',
  sourceArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com',
  sendingAccountId: '123456789012',
  messageId: `0100018f2c7a1b2c-${randomUUID()}-000000`,
  destination: recipients,
  headersTruncated: false,
  commonHeaders: {
    from: ['app@example.com'],
    to: recipients,
    messageId: `<${randomUUID()}@example.com>`,
    subject: 'Hi',
  },
  tags: { 'ses:configuration-set': ['mailroute'] },
});
/** SES event publishing records (the SNS Message), as SES documents them. */
const bounce = (address: string) => ({
  eventType: 'Bounce',
  bounce: {
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [
      { emailAddress: address, action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' },
    ],
    timestamp: '2026-11-29T10:00:05.000Z',
    feedbackId: `0100018f-${randomUUID()}-000000`,
    reportingMTA: 'dns; a8-55.smtp-out.amazonses.com',
  },
  mail: mail([address]),
});
const delivery = (address: string) => ({
  eventType: 'Delivery',
  delivery: {
    timestamp: '2026-11-29T10:00:03.000Z',
    processingTimeMillis: 1200,
    recipients: [address],
    smtpResponse: '250 2.6.0 Message received',
    reportingMTA: 'a8-70.smtp-out.amazonses.com',
  },
  mail: mail([address]),
});

/** The Lambda event of an SNS subscription: one record per envelope. */
const snsEvent = (...envelopes: Record<string, unknown>[]): SNSEvent =>
  ({
    Records: envelopes.map((Sns) => ({
      EventVersion: '1.0',
      EventSubscriptionArn: `${Sns.TopicArn as string}:${randomUUID()}`,
      EventSource: 'aws:sns',
      Sns,
    })),
  }) as unknown as SNSEvent;
const notification = (record: unknown, options: { topicArn?: string } = {}) =>
  signer.sign(
    {
      Type: 'Notification',
      Message: JSON.stringify(record),
      ...(options.topicArn ? { TopicArn: options.topicArn } : {}),
    },
    { lambda: true },
  );

/** The EMF lines, as `provider type` → the line, and by refused source. */
function emf() {
  const lines = output.lines().filter((l) => l._aws);
  return {
    events: Object.fromEntries(lines.filter((l) => 'events' in l).map((l) => [`${l.provider} ${l.type}`, l])),
    refused: Object.fromEntries(lines.filter((l) => 'EventsRefused' in l).map((l) => [String(l.source), l])),
  };
}

beforeAll(async () => {
  [world, signer] = await Promise.all([startAwsWorld(), startSnsSigner(TOPIC)]);
  vi.stubEnv('MR_SMTP_USER', SMTP_USER);
  vi.stubEnv('MR_SMTP_PASS', SMTP_PASSWORD);
  const credentials = { username: { env: 'MR_SMTP_USER' }, password: { env: 'MR_SMTP_PASS' } };
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(routingConfig(world.primary, world.busy, credentials)));
  vi.stubEnv('MAILROUTE_SNS_TOPIC_ARNS', TOPIC);
});
beforeEach(async () => {
  await world.freshTable();
  output = captureOutput();
});
afterEach(() => output.restore());
afterAll(async () => {
  await signer.stop();
  await world.stop();
});

describe('events function: the SNS subscription', () => {
  it('verifies and applies every record: a hard bounce suppresses, a delivery does not; logs and metrics', async () => {
    const handler = await coldEvents();
    const fetchedBefore = signer.certRequests;
    const event = snsEvent(notification(bounce('ann@example.net')), notification(delivery('bob@example.net')));
    const result = await handler(event, lambdaContext('mailroute-events'));

    expect(result).toEqual({ events: 2, suppressed: 1, refused: 0 });
    const { suppressions } = (await containerMailer()).events;
    expect(await suppressions.get('ann@example.net')).toMatchObject({
      address: 'ann@example.net',
      reason: 'bounced',
      provider: 'ses',
    });
    expect(await suppressions.get('bob@example.net')).toBeUndefined();

    // One `event` line per applied event, the recipient masked; no address in clear anywhere.
    const lines = output.lines().filter((l) => l.message === 'event');
    expect(lines).toEqual([
      expect.objectContaining({
        trigger: 'sns',
        provider: 'ses',
        type: 'bounced',
        bounceType: 'hard',
        recipient: 'a***@example.net',
        suppression: 'suppressed',
        function_name: 'mailroute-events',
      }),
      expect.objectContaining({ trigger: 'sns', provider: 'ses', type: 'delivered', recipient: 'b***@example.net' }),
    ]);
    expect(output.text()).not.toMatch(/ann@example\.net|bob@example\.net/);

    // Counts per provider and event type, CloudWatch EMF in the namespace mailroute.
    const metrics = emf();
    expect(metrics.events['ses bounced']).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'mailroute', Dimensions: [['provider', 'type']] }] },
      events: 1,
    });
    expect(metrics.events['ses delivered']).toMatchObject({ events: 1 });
    expect(metrics.refused).toEqual({});
    // The signing certificate was fetched (over TLS, from the SNS host) once for both records.
    expect(signer.certRequests - fetchedBefore).toBe(1);
  });

  it('a tampered record is refused, logged with its reason and dropped: nothing applied, the invocation succeeds', async () => {
    const handler = await coldEvents();
    const genuine = notification(bounce('carol@example.net'));
    // Same signature, another recipient in the message: the signature no longer verifies.
    const tampered = { ...genuine, Message: String(genuine.Message).replaceAll('carol@', 'dave@') };
    const otherTopic = notification(bounce('erin@example.net'), {
      topicArn: 'arn:aws:sns:us-east-1:123456789012:someone-elses-topic',
    });
    const result = await handler(snsEvent(tampered, otherTopic), lambdaContext('mailroute-events'));

    expect(result).toEqual({ events: 0, suppressed: 0, refused: 2 });
    const { suppressions } = (await containerMailer()).events;
    for (const address of ['carol@example.net', 'dave@example.net', 'erin@example.net'])
      expect(await suppressions.get(address)).toBeUndefined();
    const refusals = output.lines().filter((l) => l.message === 'events refused');
    expect(refusals).toEqual([
      expect.objectContaining({
        trigger: 'sns',
        status: 403,
        reason: expect.stringMatching(/signature does not verify/),
      }),
      expect.objectContaining({ trigger: 'sns', status: 403, reason: expect.stringMatching(/someone-elses-topic/) }),
    ]);
    expect(emf().refused.ses).toMatchObject({ EventsRefused: 2 });
    expect(output.lines().filter((l) => l.message === 'event')).toEqual([]);
  });

  it('a certificate that cannot be fetched fails the invocation (Lambda retries it), applying nothing', async () => {
    // An agent that does not trust the test CA: the TLS handshake to the "SNS host" fails.
    const handler = await coldEvents({ snsAgent: signer.agentTrusting() });
    const event = snsEvent(notification(bounce('frank@example.net')));
    await expect(handler(event, lambdaContext('mailroute-events'))).rejects.toMatchObject({ code: 'TRANSIENT' });
    expect(await (await containerMailer()).events.suppressions.get('frank@example.net')).toBeUndefined();
    expect(output.lines().find((l) => l.message === 'invocation failed')).toBeDefined();
  });
});

describe('events function: EventBridge', () => {
  it('applies an SES event from the rule (trusted: only the rule invokes the function)', async () => {
    const handler = await coldEvents();
    const event = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Email Bounced',
      source: 'aws.ses',
      account: '123456789012',
      time: '2026-11-29T10:00:06Z',
      region: 'us-east-1',
      resources: ['arn:aws:ses:us-east-1:123456789012:configuration-set/mailroute'],
      detail: bounce('grace@example.net'),
    };
    const result = await handler(event, lambdaContext('mailroute-events'));
    expect(result).toEqual({ events: 1, suppressed: 1, refused: 0 });
    expect(await (await containerMailer()).events.suppressions.get('grace@example.net')).toMatchObject({
      reason: 'bounced',
    });
    expect(output.lines().find((l) => l.message === 'event')).toMatchObject({
      trigger: 'eventbridge',
      eventId: event.id,
      type: 'bounced',
    });
  });

  it('anything else invoking it directly is refused unless it is a signed SNS envelope', async () => {
    const handler = await coldEvents();
    const result = await handler(bounce('heidi@example.net'), lambdaContext('mailroute-events'));
    expect(result).toEqual({ events: 0, suppressed: 0, refused: 1 });
    expect(await (await containerMailer()).events.suppressions.get('heidi@example.net')).toBeUndefined();
  });
});

describe('events function: POST /v1/events/ses over a function URL', () => {
  it('confirms a SubscriptionConfirmation by visiting its SubscribeURL, once it is verified', async () => {
    const visited: string[] = [];
    const fetchStub = (async (url: string | URL | Request) => {
      visited.push(String(url));
      return new Response('<ConfirmSubscriptionResponse/>', { status: 200 });
    }) as typeof fetch;
    const handler = await coldEvents({ snsAgent: signer.agent, fetch: fetchStub });
    const subscribeUrl = `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=2336412f37`;
    const envelope = signer.sign({
      Type: 'SubscriptionConfirmation',
      Token: '2336412f37',
      Message: `You have chosen to subscribe to the topic ${TOPIC}.`,
      SubscribeURL: subscribeUrl,
    });
    const request = httpEvent('function-url', { path: '/v1/events/ses', body: JSON.stringify(envelope) });
    const answer = (await handler(request, lambdaContext('mailroute-events'))) as APIGatewayProxyStructuredResultV2;

    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(String(answer.body))).toEqual({ ok: true, confirmed: true, topicArn: TOPIC });
    expect(visited).toEqual([subscribeUrl]);
    // An events answer is logged as such, not as a send.
    expect(output.lines().find((l) => l.message === 'events')).toMatchObject({ trigger: 'http', source: 'ses' });
    expect(output.lines().filter((l) => l.message === 'attempt')).toEqual([]);
  });

  it('serves /v1/events/ only: its URL (public, for SNS) never reaches /v1/send', async () => {
    const handler = await coldEvents();
    const message = { from: 'app@example.com', to: 'ann@example.net', subject: 'through events', text: 'no' };
    const answer = (await handler(
      httpEvent('function-url', { path: '/v1/send', body: JSON.stringify(message) }),
      lambdaContext('mailroute-events'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(answer.statusCode).toBe(404);
    expect(world.primary.received).toHaveLength(0);
  });

  it('applies a signed Notification, and refuses a forged one with 403 (counted)', async () => {
    const handler = await coldEvents();
    const good = signer.sign({ Type: 'Notification', Message: JSON.stringify(bounce('ivan@example.net')) });
    const ok = (await handler(
      httpEvent('function-url', { path: '/v1/events/ses', body: JSON.stringify(good) }),
      lambdaContext('mailroute-events'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(String(ok.body))).toEqual({ ok: true, events: 1, suppressed: 1 });

    const forged = { ...good, Message: JSON.stringify(bounce('judy@example.net')) };
    const refused = (await handler(
      httpEvent('function-url', { path: '/v1/events/ses', body: JSON.stringify(forged) }),
      lambdaContext('mailroute-events'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(refused.statusCode).toBe(403);
    const { suppressions } = (await containerMailer()).events;
    expect(await suppressions.get('ivan@example.net')).toBeDefined();
    expect(await suppressions.get('judy@example.net')).toBeUndefined();
    expect(emf().refused.ses).toMatchObject({ EventsRefused: 1 });
  });
});

const SAMPLES = new URL('../../../shared/fixtures/events/', import.meta.url);

describe.skipIf(!existsSync(SAMPLES))(
  `events function: the official SES samples, each in a signed SNS record (skipped when ${SAMPLES.pathname} is absent)`,
  () => {
    const files = existsSync(SAMPLES) ? readdirSync(SAMPLES).filter((f) => /^ses-sns-.*\.json$/.test(f)) : [];
    it('applies every one, none refused', async () => {
      const handler = await coldEvents();
      const records = files.map((f) => notification(JSON.parse(readFileSync(new URL(f, SAMPLES), 'utf8'))));
      const result = (await handler(snsEvent(...records), lambdaContext('mailroute-events'))) as Record<string, number>;
      expect(files.length).toBeGreaterThan(10);
      expect(result.refused).toBe(0);
      expect(result.events).toBeGreaterThanOrEqual(files.length);
    });
  },
);
