import { describe, expect, it } from 'vitest';
import { EventRejectedError } from '../../core/errors.ts';
import { type MailEvent, mailEventSchema } from '../../core/events/event.ts';
import { OCI_ACCEPTED_TYPE, OCI_RELAYED_TYPE, ociLogEvents } from '../../core/events/sources/oci.ts';

// Oracle publishes no sample record: these are ours, from the field names of the Logging reference for Email
// Delivery and the generic Logging envelope (data, id, oracle{...}, source, specversion, time, type).

const ORACLE = {
  compartmentid: 'ocid1.compartment.oc1..aaaa',
  ingestedtime: '2030-05-06T07:08:10.000Z',
  loggroupid: 'ocid1.loggroup.oc1.iad.aaaa',
  tenantid: 'ocid1.tenancy.oc1..aaaa',
};

/** A Connector Hub record with the email fields directly under `data`. */
function flat(type: string, fields: Record<string, unknown>, time = '2030-05-06T07:08:09.123Z') {
  return {
    data: fields,
    id: `rec-${Math.random().toString(16).slice(2)}`,
    oracle: ORACLE,
    source: 'mail.example.com',
    specversion: '1.0',
    time,
    type,
  };
}

/** The same record as Logging wraps it: `data.logContent.data` holds the email fields. */
function nested(type: string, fields: Record<string, unknown>, time = '2030-05-06T07:08:09.123Z') {
  return { ...flat(type, {}, time), data: { logContent: { data: fields, type, time } } };
}

const accepted = (fields: Record<string, unknown>) =>
  flat(OCI_ACCEPTED_TYPE, {
    sender: 'app@mail.example.com',
    recipient: 'user@example.net',
    messageId: '20300506.abc@mail.example.com',
    ...fields,
  });

const relayed = (fields: Record<string, unknown>, wrap: typeof flat = flat) =>
  wrap(OCI_RELAYED_TYPE, {
    recipient: 'user@example.net',
    messageId: '20300506.abc@mail.example.com',
    receivingDomain: 'example.net',
    recipientIp: '192.0.2.25',
    ...fields,
  });

function one(body: unknown): MailEvent {
  const events = ociLogEvents(body);
  expect(events).toHaveLength(1);
  return mailEventSchema.parse(events[0]);
}

function rejection(body: unknown): EventRejectedError {
  try {
    ociLogEvents(body);
  } catch (error) {
    expect(error).toBeInstanceOf(EventRejectedError);
    return error as EventRejectedError;
  }
  throw new Error('expected the body to be refused');
}

describe('ociLogEvents: outboundaccepted', () => {
  it('maps an accepted submission to queued', () => {
    const event = one([accepted({ action: 'accept', smtpStatus: '250 2.1.5 user@example.net and options Ok' })]);
    expect(event).toMatchObject({
      type: 'queued',
      provider: 'oci',
      recipient: 'user@example.net',
      providerMessageId: '20300506.abc@mail.example.com',
      messageId: '<20300506.abc@mail.example.com>',
      eventTime: '2030-05-06T07:08:09.123Z',
      diagnostic: '250 2.1.5 user@example.net and options Ok',
      status: '2.1.5',
    });
  });

  it.each([
    ['Recipient suppressed', '550 5.1.1 recipient suppressed'],
    ['Invalid recipient', '501 5.1.3 bad address syntax'],
    ['Daily limit reached', '451 4.7.1 daily limit reached'],
  ])('maps errorType %s to rejected, the SMTP reply as diagnostic', (errorType, smtpStatus) => {
    const event = one([accepted({ action: 'accept', errorType, smtpStatus })]);
    expect(event).toMatchObject({ type: 'rejected', reason: errorType, diagnostic: smtpStatus });
    expect(event.status).toBe(smtpStatus.split(' ')[1]);
    expect(event.bounceType).toBeUndefined();
  });

  it('keeps a refusal with no recipient (Authorization failure) and an unknown action as unknown', () => {
    const refused = one([
      flat(OCI_ACCEPTED_TYPE, { action: 'accept', errorType: 'Authorization failure', smtpStatus: '535 5.7.8 auth' }),
    ]);
    expect(refused.type).toBe('rejected');
    expect('recipient' in refused).toBe(false);
    const odd = one([accepted({ action: 'quarantine' })]);
    expect(odd.type).toBe('unknown');
    expect(odd.reason).toContain('quarantine');
  });
});

describe('ociLogEvents: outboundrelayed', () => {
  it.each([
    ['relay', 'delivered'],
    ['complaint', 'complained'],
    ['open', 'opened'],
    ['click', 'clicked'],
    ['unsubscribe', 'unsubscribed'],
    ['teleport', 'unknown'],
  ] as const)('maps action %s to %s', (action, type) => {
    const event = one([relayed({ action, userAgent: 'Mail/1.0', url: 'https://example.org/a' })]);
    expect(event.type).toBe(type);
    expect(event.recipient).toBe('user@example.net');
    expect(event.userAgent).toBe('Mail/1.0');
    expect(event.url).toBe(type === 'clicked' ? 'https://example.org/a' : undefined);
    if (type === 'unknown') expect(event.reason).toContain('teleport');
  });

  it.each([
    [{ bounceCategory: 'Hard bounce', smtpStatus: '421 4.4.2 timeout' }, 'hard'],
    [{ bounceCategory: 'soft', smtpStatus: '550 5.1.1 no such user' }, 'soft'],
    [{ errorType: 'hard' }, 'hard'],
    [{ smtpStatus: '550 5.1.1 no such user' }, 'hard'],
    [{ smtpStatus: '452 4.2.2 mailbox full' }, 'soft'],
    [{ smtpStatus: '554 transaction failed' }, 'hard'],
    [{}, 'undetermined'],
  ] as const)('bounce %j is %s', (fields, bounceType) => {
    const event = one([relayed({ action: 'bounce', ...fields })]);
    expect(event.type).toBe('bounced');
    expect(event.bounceType).toBe(bounceType);
    if ('smtpStatus' in fields) expect(event.diagnostic).toBe(fields.smtpStatus);
    if ('bounceCategory' in fields) expect(event.reason).toBe(fields.bounceCategory);
  });

  it('reads the same record whether its fields sit under data or data.logContent.data', () => {
    const fields = { action: 'bounce', bounceCategory: 'hard', smtpStatus: '550 5.1.1 unknown user' };
    const a = one([relayed(fields, flat)]);
    const b = one([relayed(fields, nested)]);
    const { raw: _a, ...left } = a;
    const { raw: _b, ...right } = b;
    expect(left).toEqual(right);
    expect(left).toMatchObject({ type: 'bounced', bounceType: 'hard', recipient: 'user@example.net' });
  });

  it('finds the type under data.logContent when the record has none (Logging Search form)', () => {
    const record = {
      datetime: '2030-05-06T07:08:09Z',
      data: {
        logContent: {
          type: OCI_RELAYED_TYPE,
          time: '2030-05-06T07:08:09Z',
          data: { action: 'relay', recipient: 'x@example.net' },
        },
      },
    };
    expect(one(record)).toMatchObject({
      type: 'delivered',
      recipient: 'x@example.net',
      eventTime: '2030-05-06T07:08:09.000Z',
    });
  });
});

describe('ociLogEvents: envelope', () => {
  it('prefers a header Message-ID field, and gives none when messageId is not one', () => {
    const header = one([
      relayed({ action: 'relay', messageId: 'ocid-like-id', headerMessageId: '<ours@mail.example.com>' }),
    ]);
    expect(header).toMatchObject({ providerMessageId: 'ocid-like-id', messageId: '<ours@mail.example.com>' });
    const bare = one([relayed({ action: 'relay', messageId: '06a9aa8e-0542-4d8d-9b6e-000000000000' })]);
    expect(bare.providerMessageId).toBe('06a9aa8e-0542-4d8d-9b6e-000000000000');
    expect('messageId' in bare).toBe(false);
  });

  it('takes the record time, else the ingestion time', () => {
    const record = relayed({ action: 'relay' });
    const { time: _time, ...untimed } = record;
    expect(one(untimed).eventTime).toBe(ORACLE.ingestedtime);
    expect(one(record).eventTime).toBe('2030-05-06T07:08:09.123Z');
  });

  it('handles a mixed batch whole, skips records of other types, and accepts one record alone', () => {
    const batch = [
      accepted({ action: 'accept' }),
      flat('com.oraclecloud.objectstorage.createobject', { bucketName: 'b' }),
      relayed({ action: 'relay' }, nested),
      accepted({ action: 'accept', errorType: 'Recipient suppressed' }),
      relayed({ action: 'open' }),
    ];
    const events = ociLogEvents(batch);
    expect(events.map((e) => e.type)).toEqual(['queued', 'delivered', 'rejected', 'opened']);
    expect(events.map((e) => e.raw)).toEqual([batch[0], batch[2], batch[3], batch[4]]);
    for (const event of events) mailEventSchema.parse(event);
    expect(ociLogEvents(relayed({ action: 'relay' }))).toHaveLength(1);
    expect(ociLogEvents([])).toEqual([]);
  });

  it('refuses a body that is not log records with 400', () => {
    for (const body of ['[]', 7, null, undefined, [1], [relayed({ action: 'relay' }), 'x'], [{ hello: 'world' }]]) {
      const error = rejection(body);
      expect([error.status, error.source]).toEqual([400, 'oci']);
    }
  });
});
