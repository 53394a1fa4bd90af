import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SuppressedRecipientsError } from '../../core/errors.ts';
import { ingestEvents } from '../../core/events/intake.ts';
import type { Mailer } from '../../core/mailer.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import { Mailers } from '../helpers/failover.ts';

// A recipient that hard-bounced on SES must not be mailed through ACS the next day because the route moved: one
// suppression list, screened before routing, whatever provider the route picks. Real SES and ACS emulators.

let acs: AcsEmulator;
let ses: SesEmulator;
const mailers = new Mailers();

const config = {
  providers: [
    {
      name: 'ses',
      provider: 'ses',
      mode: 'api',
      region: 'eu-west-1',
      endpoint: 'http://placeholder',
      credentials: { accessKeyId: { env: 'MR_EVT_SES_KEY' }, secretAccessKey: { env: 'MR_EVT_SES_SECRET' } },
    },
    { name: 'acs', provider: 'azure', mode: 'api', connectionString: { env: 'MR_EVT_ACS_CS' }, pollIntervalMs: 5 },
  ],
  routes: [
    { name: 'ses-first', providers: ['ses', 'acs'] },
    { name: 'acs-first', providers: ['acs', 'ses'] },
  ],
  defaultRoute: 'ses-first',
};

function mailerOn(store = new MemoryStore()): Mailer {
  const c = structuredClone(config);
  c.providers[0]!.endpoint = ses.url;
  return mailers.create(c, { store });
}

const acsSent = (subject: string) =>
  acs.store.emails.filter((e) => (e.body.content as { subject?: string }).subject === subject);
const acsRecipients = (subject: string) =>
  acsSent(subject)
    .flatMap((e) => (e.body.recipients as { to?: { address: string }[] }).to ?? [])
    .map((r) => r.address);

/** An SES event-publishing Bounce record, written from the documented fields. */
function sesBounce(messageId: string, recipient: string, bounceType: 'Permanent' | 'Transient' = 'Permanent') {
  const timestamp = new Date().toISOString();
  return {
    eventType: 'Bounce',
    bounce: {
      bounceType,
      bounceSubType: 'General',
      bouncedRecipients: [
        { emailAddress: recipient, action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' },
      ],
      timestamp,
      feedbackId: '0100018f-feedback',
      reportingMTA: 'dsn; a1-2.smtp-out.eu-west-1.amazonses.com',
    },
    mail: {
      timestamp,
      source: 'app@example.com',
      messageId,
      destination: [recipient],
      tags: { 'ses:configuration-set': ['events'] },
    },
  };
}

beforeAll(async () => {
  [acs, ses] = await Promise.all([startAcsEmulator(), startSesEmulator()]);
  vi.stubEnv('MR_EVT_ACS_CS', acs.connectionString);
  vi.stubEnv('MR_EVT_SES_KEY', 'AKIDEVENTSTEST');
  vi.stubEnv('MR_EVT_SES_SECRET', 'events-test-secret');
});
afterEach(async () => {
  await mailers.closeAll();
  acs.reset();
  await ses.clear();
});
afterAll(async () => {
  await Promise.all([acs.close(), ses.close()]);
  vi.unstubAllEnvs();
});

describe('a hard bounce on SES, then a send through a route whose first provider is ACS', () => {
  it('refuses the bounced recipient on ACS, sends to the others, and the override sends to it', async () => {
    const mailer = mailerOn();
    const first = await mailer.send({
      from: 'app@example.com',
      to: ['gone@example.net', 'here@example.net'],
      subject: 'first',
      text: 'hi',
      idempotencyKey: 'evt-first',
      metadata: { order: 'A-1' },
    });
    expect(first.name).toBe('ses');
    expect(first.providerMessageId).toBeTruthy();

    const { applied } = await ingestEvents(mailer, 'ses', {
      body: JSON.stringify(sesBounce(first.providerMessageId!, 'gone@example.net')),
      authenticated: true,
    });
    expect(applied).toHaveLength(1);
    // Correlation found the send: its Message-ID, idempotency key, entry and metadata.
    expect(applied[0]!.event).toMatchObject({
      type: 'bounced',
      bounceType: 'hard',
      recipient: 'gone@example.net',
      messageId: first.messageId,
      idempotencyKey: 'evt-first',
      name: 'ses',
      metadata: { order: 'A-1' },
    });
    expect(applied[0]!.suppression).toBe('suppressed');

    const second = await mailer.send(
      { from: 'app@example.com', to: ['Gone@Example.net'], cc: ['here@example.net'], subject: 'second', text: 'hi' },
      { route: 'acs-first' },
    );
    expect(second.name).toBe('acs');
    expect(acsRecipients('second')).toEqual([]);
    const cc = acsSent('second').flatMap((e) => (e.body.recipients as { cc?: { address: string }[] }).cc ?? []);
    expect(cc.map((r) => r.address)).toEqual(['here@example.net']);
    expect(second.rejected).toContainEqual({ address: 'Gone@example.net', reason: 'SUPPRESSED' });
    expect(second.suppressed).toEqual([
      { address: 'Gone@example.net', reason: 'bounced', provider: 'ses', since: expect.any(String) },
    ]);

    // Only suppressed recipients: a typed error, nothing sent by any provider.
    const refused = await mailer
      .send({ from: 'app@example.com', to: ['gone@example.net'], subject: 'third', text: 'hi' }, { route: 'acs-first' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SuppressedRecipientsError);
    expect((refused as SuppressedRecipientsError).toJSON()).toMatchObject({
      code: 'SUPPRESSED',
      retryable: false,
      failover: false,
      recipients: [{ address: 'gone@example.net', reason: 'bounced', provider: 'ses' }],
    });
    expect(acsSent('third')).toHaveLength(0);
    expect((await ses.store()).emails.filter((e) => e.subject === 'third')).toHaveLength(0);

    // Whatever entry or route a send names, the list is the same.
    for (const via of [{ provider: 'ses' }, { provider: 'acs' }, { route: 'ses-first' }]) {
      const error = await mailer
        .send({ from: 'app@example.com', to: ['gone@example.net'], subject: 'via', text: 'hi' }, via)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SuppressedRecipientsError);
    }
    expect(acsSent('via')).toHaveLength(0);
    expect((await ses.store()).emails.filter((e) => e.subject === 'via')).toHaveLength(0);

    // The override: a password reset after the user fixed their mailbox.
    const forced = await mailer.send(
      { from: 'app@example.com', to: ['gone@example.net'], subject: 'reset', text: 'hi', suppression: 'ignore' },
      { route: 'acs-first' },
    );
    expect(forced.name).toBe('acs');
    expect(forced.suppressed).toBeUndefined();
    expect(acsRecipients('reset')).toEqual(['gone@example.net']);
  });

  it('a soft bounce alone suppresses nobody; a store that cannot be read refuses the send instead of mailing blind', async () => {
    const store = new MemoryStore();
    const mailer = mailerOn(store);
    const sent = await mailer.send({ from: 'app@example.com', to: 'full@example.net', subject: 'soft', text: 'x' });
    await ingestEvents(mailer, 'ses', {
      body: JSON.stringify(sesBounce(sent.providerMessageId!, 'full@example.net', 'Transient')),
      authenticated: true,
    });
    expect(await mailer.events.suppressions.get('full@example.net')).toBeUndefined();
    await mailer.send({ from: 'app@example.com', to: 'full@example.net', subject: 'soft again', text: 'x' });
    expect((await ses.store()).emails.filter((e) => e.subject === 'soft again')).toHaveLength(1);

    vi.spyOn(store, 'get').mockRejectedValue(new Error('store hiccup'));
    const error = await mailer
      .send({ from: 'app@example.com', to: 'full@example.net', subject: 'blind', text: 'x' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STATE_STORE', retryable: true });
    expect((await ses.store()).emails.filter((e) => e.subject === 'blind')).toHaveLength(0);
  });

  it('counts sends and events per provider, for the bounce rate providers act on', async () => {
    const mailer = mailerOn();
    const sent = await mailer.send({
      from: 'app@example.com',
      to: ['a@example.net', 'b@example.net', 'c@example.net', 'd@example.net'],
      subject: 'rate',
      text: 'x',
    });
    await ingestEvents(mailer, 'ses', {
      body: JSON.stringify(sesBounce(sent.providerMessageId!, 'a@example.net')),
      authenticated: true,
    });
    const [ses] = await mailer.events.stats!.summary('2000-01-01');
    expect(ses).toMatchObject({
      provider: 'ses',
      counts: { sends: 4, bounced: 1, 'bounced.hard': 1 },
      bounceRate: 0.25,
    });
  });
});
