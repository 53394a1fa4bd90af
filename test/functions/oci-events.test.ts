import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import { FAILED_QUEUE, type OciWorld, SEND_QUEUE, startOciWorld, TENANCY } from './oci-world.ts';

// Email Delivery log records, as Connector Hub hands a batch of them to the function (a JSON array of Logging
// records), through the real fdk listener and the function's entry (functions/oci/func.ts).

let world: OciWorld;
let output: string[];

const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaamailroutecompartment';
const EMAIL_DOMAIN = 'ocid1.emaildomain.oc1.eu-frankfurt-1.amaaaaaamailroutedomain';

/** One Logging record of an Email Delivery log (the fields of Oracle's "Details for Email Delivery" reference). */
function logRecord(category: 'outboundaccepted' | 'outboundrelayed', data: Record<string, unknown>) {
  return {
    data: { sender: 'noreply@example.com', messageId: `${randomUUID()}@example.com`, ...data },
    id: randomUUID(),
    oracle: {
      compartmentid: COMPARTMENT,
      ingestedtime: '2026-11-29T10:00:07.412Z',
      loggroupid: 'ocid1.loggroup.oc1.eu-frankfurt-1.amaaaaaamailroutelogs',
      logid: `ocid1.log.oc1.eu-frankfurt-1.amaaaaaa${category}`,
      resourceid: EMAIL_DOMAIN,
      tenantid: TENANCY,
    },
    source: 'example.com',
    specversion: '1.0',
    time: '2026-11-29T10:00:05.000Z',
    type: `com.oraclecloud.emaildelivery.emaildomain.${category}`,
  };
}
const relayedBounce = (recipient: string) =>
  logRecord('outboundrelayed', {
    action: 'bounce',
    recipient,
    receivingDomain: recipient.split('@')[1],
    recipientIp: '203.0.113.25',
    smtpStatus: '550 5.1.1 <recipient> user unknown',
  });
const accepted = (recipient: string) =>
  logRecord('outboundaccepted', { action: 'accept', recipient, smtpStatus: '250 2.1.5 Ok' });

const containerMailer = async (): Promise<Mailer> => (await import('../../functions/oci/config.ts')).mailer();
const logLines = () =>
  output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  world = await startOciWorld();
});
beforeEach(async () => {
  output = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  await world.startFunction();
});
afterEach(() => {
  world.stopFunction();
  vi.restoreAllMocks();
});
afterAll(() => world.stop());

describe('OCI function: Connector Hub batches of Email Delivery log records', () => {
  it('applies an outboundrelayed bounce and an outboundaccepted record: the bounce suppresses', async () => {
    const batch = [relayedBounce('ann@example.net'), accepted('bob@example.net')];
    const response = await world.invoke(JSON.stringify(batch));

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ records: 2, events: 2, suppressed: 1 });
    const { suppressions } = (await containerMailer()).events;
    expect(await suppressions.get('ann@example.net')).toMatchObject({ reason: 'bounced', provider: 'oci' });
    expect(await suppressions.get('bob@example.net')).toBeUndefined();

    const events = logLines().filter((l) => l.message === 'event');
    expect(events).toEqual([
      expect.objectContaining({
        trigger: 'connector-hub',
        provider: 'oci',
        type: 'bounced',
        bounceType: 'hard',
        status: '5.1.1',
        recipient: 'a***@example.net',
        suppression: 'suppressed',
      }),
      expect.objectContaining({
        trigger: 'connector-hub',
        provider: 'oci',
        type: 'queued',
        recipient: 'b***@example.net',
      }),
    ]);
    expect(output.join('')).not.toMatch(/ann@example\.net|bob@example\.net/);
    // Nothing was sent or set aside: the batch was events, not send-queue messages.
    expect(world.primary.received).toHaveLength(0);
    expect(world.queues.messages(FAILED_QUEUE)).toHaveLength(0);
    expect(world.queues.messages(SEND_QUEUE)).toHaveLength(0);
  });

  it('a batch the intake refuses is logged and answered (Connector Hub moves on): nothing applied', async () => {
    const batch = [relayedBounce('carol@example.net'), 42];
    const response = await world.invoke(JSON.stringify(batch));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({
      records: 2,
      events: 0,
      refused: expect.stringMatching(/item 1 is not a log record/),
    });
    expect(await (await containerMailer()).events.suppressions.get('carol@example.net')).toBeUndefined();
    expect(logLines().find((l) => l.message === 'events refused')).toMatchObject({ source: 'oci', status: 400 });
  });

  it('send-queue batches still go to the send path', async () => {
    const response = await world.invoke(JSON.stringify([{ id: '1001', content: '{"not": "a message"}' }]));
    // The queue path: the invalid message is set aside on the failed queue, not taken for an event.
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ records: 1, deadLettered: 1 });
    expect(world.queues.messages(FAILED_QUEUE)).toHaveLength(1);
    world.queues.messages(FAILED_QUEUE).splice(0);
  });
});
