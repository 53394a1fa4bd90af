import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { type EventGridEvent, HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Mailer } from '../../core/mailer.ts';
import { ACS_EVENT_TYPES, ACS_EVENTS_FUNCTION, HTTP_ROUTES } from '../../functions/azure/bindings.ts';
import { type AzureWorld, captureContextLogs, startAzureWorld } from './azure-world.ts';

// ACS email events into the Azure functions: the Event Grid trigger (one event per invocation, as the host hands it
// over) and the HTTP function's POST /v1/events/acs (an Event Grid webhook batch), on Azurite's table as the store.

type Trigger = (event: EventGridEvent, context: InvocationContext) => Promise<void>;
type Http = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

let world: AzureWorld;
let logs: ReturnType<typeof captureContextLogs>;

const TOPIC =
  '/subscriptions/5b4b650e-28b9-4790-b3ab-ddbd88d727c4/resourceGroups/mailroute-rg/providers/microsoft.communication/communicationservices/mailroute-acs';

/** A new instance, its modules loaded afresh; the mailer it used is read back from the same module graph. */
async function cold<T>(module: 'events' | 'http', name: string): Promise<T> {
  vi.resetModules();
  return (await import(`../../functions/azure/${module}.ts`))[name] as T;
}
const instanceMailer = async (): Promise<Mailer> => (await import('../../functions/azure/config.ts')).mailer();

/** An ACS delivery report as Event Grid delivers it (Event Grid schema), from Microsoft's documented sample. */
function deliveryReport(recipient: string, status: string, statusMessage = 'No error.'): EventGridEvent {
  const messageId = randomUUID();
  return {
    id: randomUUID(),
    topic: TOPIC,
    subject: `sender/DoNotReply@mail.example.com/message/${messageId}`,
    data: {
      sender: 'DoNotReply@mail.example.com',
      recipient,
      internetMessageId: `<${randomUUID()}@mail.example.com>`,
      messageId,
      status,
      deliveryStatusDetails: { statusMessage },
      deliveryAttemptTimeStamp: '2026-11-29T10:00:20.2855749+00:00',
    },
    eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
    dataVersion: '1.0',
    metadataVersion: '1',
    eventTime: '2026-11-29T10:00:20Z',
  };
}
function engagement(recipient: string): EventGridEvent {
  const messageId = randomUUID();
  return {
    id: randomUUID(),
    topic: TOPIC,
    subject: `sender/DoNotReply@mail.example.com/message/${messageId}`,
    data: {
      sender: 'DoNotReply@mail.example.com',
      recipient,
      messageId,
      userActionTimeStamp: '2026-11-29T10:05:00Z',
      engagementContext: '',
      userAgent: 'Mozilla/5.0',
      engagementType: 'view',
    },
    eventType: 'Microsoft.Communication.EmailEngagementTrackingReportReceived',
    dataVersion: '1.0',
    metadataVersion: '1',
    eventTime: '2026-11-29T10:05:00Z',
  };
}

/** A POST as the host hands it over (routePrefix "", the function key already checked by the host). */
function post(path: string, body: unknown, query: Record<string, string> = {}) {
  const url = new URL(`https://mailroute-test.azurewebsites.net${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return new HttpRequest({
    method: 'POST',
    url: url.toString(),
    headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification', 'x-functions-key': 'key' },
    query,
    body: { string: JSON.stringify(body) },
  });
}
const answerOf = (response: HttpResponseInit) => ({ status: response.status, body: JSON.parse(String(response.body)) });

beforeAll(async () => {
  world = await startAzureWorld();
});
beforeEach(async () => {
  await world.freshTable();
  logs = captureContextLogs();
});
afterAll(() => world.stop());

describe('Event Grid trigger (acs-events)', () => {
  it('applies a delivered and a bounced report: the bounce suppresses, each event is logged masked', async () => {
    const trigger = await cold<Trigger>('events', 'acsEvents');
    const delivered = deliveryReport('ann@example.net', 'Delivered');
    const bounced = deliveryReport('bob@example.net', 'Bounced', '550 5.1.1 The email account does not exist.');
    await trigger(delivered, logs.context(ACS_EVENTS_FUNCTION));
    await trigger(bounced, logs.context(ACS_EVENTS_FUNCTION));

    const { suppressions } = (await instanceMailer()).events;
    expect(await suppressions.get('ann@example.net')).toBeUndefined();
    expect(await suppressions.get('bob@example.net')).toMatchObject({ reason: 'bounced', provider: 'acs' });
    const lines = logs.lines().filter((l) => l.message === 'event');
    expect(lines).toEqual([
      expect.objectContaining({
        trigger: 'eventgrid',
        eventId: delivered.id,
        provider: 'acs',
        type: 'delivered',
        recipient: 'a***@example.net',
        providerMessageId: (delivered.data as { messageId: string }).messageId,
      }),
      expect.objectContaining({
        eventId: bounced.id,
        type: 'bounced',
        bounceType: 'hard',
        recipient: 'b***@example.net',
        suppression: 'suppressed',
      }),
    ]);
    expect(logs.text()).not.toMatch(/ann@example\.net|bob@example\.net/);
  });

  it('an event it cannot read fails the invocation (Event Grid retries, then dead-letters it); nothing applied', async () => {
    const trigger = await cold<Trigger>('events', 'acsEvents');
    const broken = { ...deliveryReport('carol@example.net', 'Bounced'), eventType: '' };
    await expect(trigger(broken, logs.context(ACS_EVENTS_FUNCTION))).rejects.toThrow(/refused: acs event refused/);
    expect(await (await instanceMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
    expect(logs.lines().find((l) => l.message === 'events refused')).toMatchObject({ status: 400, source: 'acs' });
  });

  it('subscribes to the two ACS email event types Terraform filters on', () => {
    expect(ACS_EVENT_TYPES).toEqual([
      'Microsoft.Communication.EmailDeliveryReportReceived',
      'Microsoft.Communication.EmailEngagementTrackingReportReceived',
    ]);
  });
});

describe('HTTP function: POST /v1/events/acs', () => {
  it('takes a mixed Event Grid batch with the function key alone (authLevel function): no webhook secret', async () => {
    expect(HTTP_ROUTES['http-events']).toMatchObject({ route: 'v1/events/{source}', authLevel: 'function' });
    const http = await cold<Http>('http', 'httpApi');
    const batch = [
      deliveryReport('dave@example.net', 'Delivered'),
      deliveryReport('erin@example.net', 'Bounced', '550 5.1.1 user unknown'),
      deliveryReport('frank@example.net', 'Suppressed', 'The recipient is on the suppression list.'),
      engagement('dave@example.net'),
    ];
    const answer = answerOf(await http(post('/v1/events/acs', batch), logs.context('http-events')));
    expect(answer).toEqual({ status: 200, body: { ok: true, events: 4, suppressed: 2 } });

    const { suppressions } = (await instanceMailer()).events;
    expect(await suppressions.get('dave@example.net')).toBeUndefined();
    expect(await suppressions.get('erin@example.net')).toMatchObject({ reason: 'bounced' });
    // ACS's own suppression list refused it: suppressed on every provider (providerSuppressions, default true).
    expect(await suppressions.get('frank@example.net')).toMatchObject({ provider: 'acs' });
    // Logged as events, not as a send.
    expect(logs.lines().find((l) => l.message === 'events')).toMatchObject({
      trigger: 'http',
      source: 'acs',
      events: 4,
      suppressed: 2,
    });
    expect(logs.lines().filter((l) => l.message === 'attempt')).toEqual([]);
  });

  it('answers the Event Grid subscription handshake with its validation code', async () => {
    const http = await cold<Http>('http', 'httpApi');
    const validation = [
      {
        id: randomUUID(),
        topic: TOPIC,
        subject: '',
        data: {
          validationCode: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6',
          validationUrl: 'https://rp-eastus2.eventgrid.azure.net/x',
        },
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: '2026-11-29T10:00:00Z',
        metadataVersion: '1',
        dataVersion: '1',
      },
    ];
    const answer = answerOf(await http(post('/v1/events/acs', validation), logs.context('http-events')));
    expect(answer).toEqual({ status: 200, body: { validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' } });
  });
});

const SAMPLES = new URL('../../../shared/fixtures/events/', import.meta.url);

describe.skipIf(!existsSync(SAMPLES))(
  `Event Grid trigger: the official ACS samples, one event per invocation (skipped when ${SAMPLES.pathname} is absent)`,
  () => {
    const files = existsSync(SAMPLES) ? readdirSync(SAMPLES).filter((f) => /^acs-eventgrid-.*\.json$/.test(f)) : [];
    // YAML reads the docs sample that has a trailing comma (not strict JSON as published).
    const events = files.flatMap(
      (f) => [parseYaml(readFileSync(new URL(f, SAMPLES), 'utf8'))].flat() as EventGridEvent[],
    );
    it.each(events.map((event, i) => [i, event.eventType, event] as const))(
      'event %i (%s) is applied',
      async (_, __, event) => {
        const trigger = await cold<Trigger>('events', 'acsEvents');
        await expect(trigger(event, logs.context(ACS_EVENTS_FUNCTION))).resolves.toBeUndefined();
      },
    );
  },
);
