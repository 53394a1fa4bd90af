import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import {
  AllProvidersFailedError,
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
} from '../../core/errors.ts';
import { createMailer } from '../../index.ts';
import { builtInProviders } from '../../providers/index.ts';
import {
  createTestMailer,
  OutboxAssertionError,
  recordingProviders,
  type TestMailerConfig,
  TestOutbox,
} from '../../testing/index.ts';
import { PIXEL_PNG, REPORT_PDF, richMessage } from '../helpers/messages.ts';

const welcome = (to = 'bob@example.org', extra: Record<string, unknown> = {}) => ({
  from: 'Shop <shop@example.com>',
  to,
  subject: `Welcome, ${to.split('@')[0]}`,
  text: 'Thanks for signing up.',
  ...extra,
});

/** Two entries, the second behind the first: the route a user tests their failover with. */
const twoEntries: TestMailerConfig = {
  providers: [{ name: 'primary' }, { name: 'secondary' }],
  routes: [{ name: 'primary-then-secondary', providers: ['primary', 'secondary'] }],
  defaultRoute: 'primary-then-secondary',
};

/** The assertion's error, to check its text. */
function failure(assertion: () => unknown): OutboxAssertionError {
  try {
    assertion();
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxAssertionError);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('AssertionError');
    return error as OutboxAssertionError;
  }
  throw new Error('expected the assertion to fail');
}

describe('createTestMailer: a real mailer whose entries record', () => {
  it('records what was sent, every field, through one entry named "test"', async () => {
    const { mailer, outbox } = createTestMailer();
    const result = await mailer.send(
      richMessage({ tags: [{ name: 'kind', value: 'report' }], metadata: { orderId: 42 }, idempotencyKey: 'r-1' }),
    );
    expect(result).toMatchObject({ name: 'test', provider: 'test', mode: 'api', accepted: expect.any(Array) });
    const [sent] = outbox.messages;
    expect(outbox.messages).toHaveLength(1);
    expect(sent).toMatchObject({
      index: 1,
      entry: 'test',
      messageId: result.messageId,
      providerMessageId: result.providerMessageId,
      from: { name: 'Mailroute Tests', address: 'sender@example.com' },
      to: [{ name: 'Ann', address: 'ann@example.net' }, { address: 'bob@example.org' }],
      cc: [{ address: 'carol@example.net' }],
      bcc: [{ address: 'dave@example.org' }],
      replyTo: [{ address: 'replies@example.com' }],
      subject: 'Quarterly report ✓',
      text: 'The report is attached.',
      html: expect.stringContaining('cid:logo@mailroute.test'),
      headers: { 'X-Campaign-Ref': 'q3-2026' },
      tags: [{ name: 'kind', value: 'report' }],
      metadata: { orderId: 42 },
      idempotencyKey: 'r-1',
      envelope: {
        from: 'sender@example.com',
        to: ['ann@example.net', 'bob@example.org', 'carol@example.net', 'dave@example.org'],
      },
    });
    expect(sent?.attachments).toEqual([
      { filename: 'report.pdf', contentType: 'application/pdf', content: REPORT_PDF },
      { filename: 'logo.png', contentType: 'image/png', content: PIXEL_PNG, contentId: 'logo@mailroute.test' },
    ]);
    // The MIME message, as an SMTP mode would send it: its Message-ID is the result's, Bcc only in the envelope.
    const raw = await sent!.mime();
    const parsed = await simpleParser(raw);
    expect(parsed.messageId).toBe(result.messageId);
    expect(parsed.attachments.map((a) => a.filename).sort()).toEqual(['logo.png', 'report.pdf']);
    expect(raw.toString('latin1')).not.toContain('dave@example.org');
    expect(outbox.attempts).toMatchObject([{ entry: 'test', outcome: 'sent', subject: 'Quarterly report ✓' }]);
  });

  it('passes assertions on recipients, sender, subject, bodies, attachments, headers, tags, metadata, entry', async () => {
    const { mailer, outbox } = createTestMailer();
    await mailer.send(richMessage({ tags: [{ name: 'kind', value: 'report' }], metadata: { orderId: 42 } }));
    await mailer.send(welcome('alice@example.org'));
    outbox.assertCount(2);
    outbox.assertSent({ to: 'bob@example.org' });
    // Any case, the display name form, and a Unicode domain all name the same address.
    outbox.assertSent({ to: ['Ann <ANN@example.net>', 'bob@example.org'], cc: 'carol@example.net' });
    outbox.assertSent({ bcc: 'dave@example.org', recipient: 'dave@example.org', replyTo: 'replies@example.com' });
    outbox.assertSent({ from: 'sender@example.com', subject: 'Quarterly report ✓' });
    outbox.assertSent({ from: /^Shop </, subject: /welcome/i, count: 1 });
    outbox.assertSent({ text: 'signing up' });
    outbox.assertSent({ html: /<p>The report/ });
    outbox.assertSent({ attachment: 'report.pdf' });
    outbox.assertSent({ attachment: { filename: /\.png$/, contentType: 'image/png', content: PIXEL_PNG } });
    outbox.assertSent({ headers: { 'x-campaign-ref': 'q3-2026' }, tag: 'kind', metadata: { orderId: 42 } });
    outbox.assertSent({ tag: { name: 'kind', value: 'report' }, entry: 'test' });
    outbox.assertSent({ where: (m) => m.to.length === 2 });
    expect(outbox.assertSent({ recipient: /@example\.org$/, count: 2 }).map((m) => m.index)).toEqual([1, 2]);
    outbox.assertNotSent({ to: 'carol@example.net' });
    outbox.assertNotSent({ attachment: 'invoice.pdf' });
    expect(outbox.find({ subject: /^Welcome/ })).toHaveLength(1);
    expect(outbox.find((m) => m.attachments.length > 0)).toHaveLength(1);
    expect(outbox.last()?.subject).toBe('Welcome, alice');
    outbox.clear();
    outbox.assertNothingSent();
    outbox.assertCount(0);
  });

  it('matches an internationalized domain given in Unicode', async () => {
    const { mailer, outbox } = createTestMailer();
    await mailer.send(welcome('joerg@bücher.example'));
    expect(outbox.messages[0]?.to).toEqual([{ address: 'joerg@xn--bcher-kva.example' }]);
    outbox.assertSent({ to: 'JOERG@bücher.example' });
  });

  it('fails with a message saying what was expected and what was sent', async () => {
    const { mailer, outbox } = createTestMailer();
    expect(failure(() => outbox.assertSent({ to: 'bob@example.org' })).message).toBe(
      'Expected a message to "bob@example.org", but no message was sent',
    );
    expect(failure(() => outbox.assertSent()).message).toBe('Expected a message to be sent, but no message was sent');
    await mailer.send(welcome('alice@example.org'));
    await mailer.send(
      welcome('carol@example.org', {
        subject: 'Your invoice',
        cc: 'boss@example.org',
        attachments: [{ filename: 'invoice.pdf', content: REPORT_PDF.toString('base64') }],
      }),
    );
    expect(failure(() => outbox.assertSent({ to: 'bob@example.org', subject: /welcome/i })).message).toBe(
      [
        'Expected a message to "bob@example.org", subject matching /welcome/i, but none of the 2 sent messages matches:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '      to is alice@example.org, not "bob@example.org"',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
        '      to is carol@example.org, not "bob@example.org"',
      ].join('\n'),
    );
    expect(failure(() => outbox.assertSent({ to: 'carol@example.org', attachment: 'receipt.pdf' })).message).toBe(
      [
        'Expected a message to "carol@example.org", attachment "receipt.pdf", but none of the 2 sent messages matches:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '      to is alice@example.org, not "carol@example.org"',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
        '      its attachments are "invoice.pdf"',
      ].join('\n'),
    );
    expect(failure(() => outbox.assertSent({ subject: 'Welcome, alice', text: 'unsubscribe' })).message).toBe(
      [
        'Expected a message subject "Welcome, alice", text containing "unsubscribe", but none of the 2 sent messages matches:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '      its text body does not contain "unsubscribe"',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
        '      subject is "Your invoice"',
      ].join('\n'),
    );
    const counted = failure(() => outbox.assertSent({ from: 'shop@example.com', count: 3 }));
    expect(counted.message).toBe(
      [
        'Expected 3 messages from "shop@example.com", but 2 of the 2 sent messages match:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
      ].join('\n'),
    );
    expect(counted).toMatchObject({ actual: 2, expected: 3, showDiff: true });
    expect(failure(() => outbox.assertNotSent({ recipient: 'boss@example.org' })).message).toBe(
      [
        'Expected no message delivered to "boss@example.org", but 1 of the 2 sent messages matches:',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
      ].join('\n'),
    );
    expect(failure(() => outbox.assertNothingSent()).message).toBe(
      [
        'Expected no message, but 2 messages were sent:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
      ].join('\n'),
    );
    const count = failure(() => outbox.assertCount(1));
    expect(count.message).toBe(
      [
        'Expected 1 message to be sent, but 2 were:',
        '  #1 test: "Welcome, alice" from shop@example.com to alice@example.org',
        '  #2 test: "Your invoice" from shop@example.com to carol@example.org, cc:boss@example.org [invoice.pdf]',
      ].join('\n'),
    );
    expect(count).toMatchObject({ actual: 2, expected: 1 });
    outbox.clear();
    expect(failure(() => outbox.assertCount(2)).message).toBe('Expected 2 messages to be sent, but none was');
  });

  it('waits for a message sent later, or fails after the timeout', async () => {
    const { mailer, outbox } = createTestMailer();
    const waiting = outbox.waitFor({ to: 'late@example.org' });
    setTimeout(() => void mailer.send(welcome('late@example.org')), 20);
    expect((await waiting).subject).toBe('Welcome, late');
    await expect(outbox.waitFor({ to: 'never@example.org' }, { timeoutMs: 30 })).rejects.toThrow(
      /^Expected a message to "never@example.org" within 30 ms, but the only message sent does not match:/,
    );
  });
});

describe('faults: the real error classes, failover as in production', () => {
  it('fails the first entry of a route once: the send lands on the second, the attempts list both', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    outbox.entry('primary').failNext(1, 'PROVIDER_UNAVAILABLE');
    const result = await mailer.send(welcome());
    expect(result).toMatchObject({ name: 'secondary', route: 'primary-then-secondary' });
    expect(result.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['primary', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['secondary', 'sent', undefined],
    ]);
    expect(result.attempts?.[0]?.error).toMatchObject({
      name: 'ProviderUnavailableError',
      message: 'primary: the provider is unavailable (a fault set in the test outbox)',
    });
    outbox.assertSent({ to: 'bob@example.org', entry: 'secondary', count: 1 });
    expect(outbox.entry('primary').messages).toEqual([]);
    expect(outbox.entry('primary').attempts).toMatchObject([{ outcome: 'failed', errorCode: 'PROVIDER_UNAVAILABLE' }]);
    expect(outbox.entry('primary').attempts[0]?.error).toBeInstanceOf(ProviderUnavailableError);
    // As in production, an unavailable provider is marked down for the cool-down: the next send skips it.
    const next = await mailer.send(welcome('carol@example.org'));
    expect(next.attempts?.map((a) => [a.name, a.outcome])).toEqual([
      ['primary', 'skipped'],
      ['secondary', 'sent'],
    ]);
  });

  it('takes an error class, and counts: failNext(2) fails two attempts, then the entry sends again', async () => {
    const { mailer, outbox } = createTestMailer({
      providers: [{ name: 'only' }],
      retry: { maxAttempts: 1 },
      health: { cooldownMs: 0 },
    });
    outbox.entry('only').failNext(2, AuthenticationError, { message: 'bad key', providerCode: 535 });
    for (let i = 0; i < 2; i++) {
      const send = mailer.send(welcome());
      await expect(send).rejects.toBeInstanceOf(AuthenticationError);
      await expect(send).rejects.toMatchObject({ message: 'bad key', providerCode: 535, provider: 'test' });
    }
    expect((await mailer.send(welcome())).name).toBe('only');
    outbox.assertCount(1);
  });

  it('throttles: a short Retry-After is waited on the same entry, a long one moves to the next', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    outbox.entry('primary').failNext(1, 'THROTTLED', { retryAfterMs: 50 });
    // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
    const started = performance.now();
    const retried = await mailer.send(welcome());
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(retried.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['primary', 'failed', 'THROTTLED'],
      ['primary', 'sent', undefined],
    ]);
    expect(outbox.entry('primary').attempts[0]?.error).toBeInstanceOf(ThrottledError);
    expect(outbox.entry('primary').attempts[0]?.error).toMatchObject({ retryAfterMs: 50 });

    outbox.entry('primary').failNext(1, ThrottledError, { retryAfterMs: 60_000 });
    const moved = await mailer.send(welcome('carol@example.org'));
    expect(moved.attempts?.map((a) => [a.name, a.outcome, a.errorCode])).toEqual([
      ['primary', 'failed', 'THROTTLED'],
      ['secondary', 'sent', undefined],
    ]);
    outbox.assertSent({ to: 'carol@example.org', entry: 'secondary' });
  });

  it('does not fail over an ambiguous failure, as in production; a route allowing duplicates does', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    outbox.entry('primary').failNext(1, 'AMBIGUOUS');
    const send = mailer.send(welcome());
    await expect(send).rejects.toBeInstanceOf(AmbiguousDeliveryError);
    await expect(send).rejects.toMatchObject({
      attempts: [{ name: 'primary', outcome: 'failed', errorCode: 'AMBIGUOUS' }],
    });
    outbox.assertNothingSent();
    expect(outbox.entry('secondary').attempts).toEqual([]);

    const lenient = createTestMailer({
      ...twoEntries,
      routes: [{ name: 'primary-then-secondary', providers: ['primary', 'secondary'], allowDuplicates: true }],
    });
    lenient.outbox.entry('primary').failNext(1, 'AMBIGUOUS', { delivered: true });
    const result = await lenient.mailer.send(welcome());
    expect(result.name).toBe('secondary');
    // The primary took it before the answer was lost: the recipient got it twice.
    lenient.outbox.assertSent({ to: 'bob@example.org', count: 2 });
    expect(lenient.outbox.messages.map((m) => m.entry)).toEqual(['primary', 'secondary']);
  });

  it('records an idempotent send once: a repeat is a duplicate, an ambiguous one is never sent again', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    const first = await mailer.send(welcome('bob@example.org', { idempotencyKey: 'signup-7' }));
    const again = await mailer.send(welcome('bob@example.org', { idempotencyKey: 'signup-7' }));
    expect(again).toMatchObject({ duplicate: true, messageId: first.messageId });
    outbox.assertSent({ idempotencyKey: 'signup-7', count: 1 });
    expect(outbox.attempts).toHaveLength(1);

    outbox.entry('primary').failNext(1, 'AMBIGUOUS', { delivered: true });
    await expect(mailer.send(welcome('carol@example.org', { idempotencyKey: 'signup-8' }))).rejects.toBeInstanceOf(
      AmbiguousDeliveryError,
    );
    const retry = mailer.send(welcome('carol@example.org', { idempotencyKey: 'signup-8' }));
    await expect(retry).rejects.toBeInstanceOf(AmbiguousDeliveryError);
    await expect(retry).rejects.toThrow(/may have been delivered/);
    outbox.assertSent({ idempotencyKey: 'signup-8', count: 1 });
  });

  it('fails every entry: the error lists each attempt; a recipient rejection stops at the first', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    outbox.failNext(2, 'TRANSIENT');
    outbox.entry('secondary').failNext(1, 'PROVIDER_UNAVAILABLE');
    const send = mailer.send(welcome());
    await expect(send).rejects.toBeInstanceOf(AllProvidersFailedError);
    // TRANSIENT is retried once on the same entry (retry.maxAttempts 2); the entry's own fault comes first.
    await expect(send).rejects.toMatchObject({
      attempts: [
        { name: 'primary', errorCode: 'TRANSIENT' },
        { name: 'primary', errorCode: 'TRANSIENT' },
        { name: 'secondary', errorCode: 'PROVIDER_UNAVAILABLE' },
      ],
    });

    const fresh = createTestMailer(twoEntries);
    fresh.outbox.entry('primary').failNext(1, 'RECIPIENT_REJECTED', { reason: 'mailbox unknown' });
    const rejected = fresh.mailer.send(welcome());
    await expect(rejected).rejects.toBeInstanceOf(RecipientRejectedError);
    await expect(rejected).rejects.toMatchObject({
      recipients: [{ address: 'bob@example.org', reason: 'mailbox unknown' }],
    });
    expect(fresh.outbox.entry('secondary').attempts).toEqual([]);
    expect(outbox.messages).toEqual([]);
  });

  it('takes an entry down until up(); verify() reports it', async () => {
    const { mailer, outbox } = createTestMailer({ ...twoEntries, health: { cooldownMs: 0 } });
    const primary = outbox.entry('primary').down();
    expect(primary.isDown).toBe(true);
    expect(await mailer.verify()).toMatchObject([
      { name: 'primary', ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } },
      { name: 'secondary', ok: true },
    ]);
    await mailer.send(welcome('a@example.org'));
    await mailer.send(welcome('b@example.org'));
    expect(outbox.messages.map((m) => m.entry)).toEqual(['secondary', 'secondary']);
    primary.up();
    // With a cool-down of 0, the entry is tried again at once (by default it is skipped for 30 s, as in production).
    expect((await mailer.send(welcome('c@example.org'))).name).toBe('primary');

    outbox.entry('secondary').down(AuthenticationError);
    primary.down('PROVIDER_UNAVAILABLE');
    await expect(mailer.send(welcome())).rejects.toBeInstanceOf(AllProvidersFailedError);
    outbox.reset();
    expect(outbox.entry('secondary').isDown).toBe(false);
    outbox.assertNothingSent();
    // A handle taken before the reset still sets faults on its entry.
    primary.failNext(1, 'TRANSIENT');
    expect(outbox.entry('primary').attempts).toEqual([]);
    await mailer.send(welcome('d@example.org'));
    expect(outbox.entry('primary').attempts.map((a) => a.outcome)).toEqual(['failed', 'sent']);
  });

  it('takes a function for any other error; a non-mailroute error counts as an outage, as from an adapter', async () => {
    const { mailer, outbox } = createTestMailer(twoEntries);
    outbox.entry('primary').failNext(1, ({ entry, prepared }) => new Error(`${entry} lost ${prepared.envelope.to}`));
    const result = await mailer.send(welcome());
    expect(result.attempts?.[0]).toMatchObject({
      errorCode: 'PROVIDER_UNAVAILABLE',
      error: { message: 'primary failed: primary lost bob@example.org' },
    });
  });

  it('refuses a fault it does not know, a bad count and an entry name that is not configured', () => {
    const { outbox } = createTestMailer(twoEntries);
    expect(() => outbox.entry('primry')).toThrow('no provider entry is named "primry" (entries: primary, secondary)');
    expect(() => outbox.failNext(1, 'DOWN' as never)).toThrow(
      /"DOWN" is not a fault code; give one of PROVIDER_UNAVAILABLE/,
    );
    expect(() => outbox.failNext(0, 'TRANSIENT')).toThrow('failNext: count must be a whole number ≥ 1, got 0');
    expect(() => outbox.failNext(1, 'TRANSIENT', { delivered: true })).toThrow('delivered: true is for AMBIGUOUS');
    class Mine extends Error {}
    expect(() => outbox.failNext(1, Mine as never)).toThrow(/Mine is not an error class a provider raises/);
  });
});

describe('an application configuration, every entry recording', () => {
  const production: TestMailerConfig = {
    providers: [
      { name: 'ses-eu', provider: 'ses', mode: 'api', region: 'eu-west-1' },
      { name: 'acs', provider: 'azure', mode: 'api', connectionString: { env: 'ACS_CONNECTION_STRING_NOT_SET' } },
    ],
    routes: [{ name: 'main', providers: ['ses-eu', 'acs'] }],
    defaultRoute: 'main',
    store: { type: 'redis', url: { env: 'NOT_SET_IN_TESTS' } },
  };

  it('keeps the providers, their labels, capabilities and options; reads no secret; uses no store', async () => {
    const { mailer, outbox } = createTestMailer(production);
    outbox.entry('ses-eu').failNext(1, 'PROVIDER_UNAVAILABLE');
    const result = await mailer.send(
      welcome('bob@example.org', { providerOptions: { ses: { configurationSet: 'tx' } } }),
    );
    expect(result.attempts?.map((a) => [a.name, a.provider, a.mode, a.outcome])).toEqual([
      ['ses-eu', 'ses', 'api', 'failed'],
      ['acs', 'azure', 'api', 'sent'],
    ]);
    expect(outbox.messages[0]).toMatchObject({ entry: 'acs', provider: 'azure', mode: 'api' });
    expect(outbox.messages[0]?.message.providerOptions).toEqual({ ses: { configurationSet: 'tx' } });
  });

  it("moves past an entry that cannot carry the message, by the provider's own capabilities", async () => {
    const { mailer, outbox } = createTestMailer({
      ...production,
      routes: [{ name: 'main', providers: ['acs', 'ses-eu'] }],
    });
    const result = await mailer.send(welcome('bob@example.org', { tags: [{ name: 'kind', value: 'welcome' }] }));
    expect(result.attempts?.map((a) => [a.name, a.outcome, a.reason ?? a.errorCode])).toEqual([
      ['acs', 'skipped', expect.stringMatching(/tags/)],
      ['ses-eu', 'sent', undefined],
    ]);
    outbox.assertSent({ tag: { name: 'kind', value: 'welcome' }, entry: 'ses-eu' });
  });

  it('records for a mailer the application builds itself, given the recording providers', async () => {
    const outbox = new TestOutbox();
    const { store: _store, ...config } = production;
    const mailer = await createMailer(validateConfig(config, 'test', builtInProviders), {
      providers: recordingProviders(outbox),
    });
    await mailer.send(welcome(), { provider: 'acs' });
    outbox.assertSent({ to: 'bob@example.org', entry: 'acs', count: 1 });
    expect(outbox.messages[0]).toMatchObject({ provider: 'azure', mode: 'api' });
  });

  it('refuses a wrong configuration or option as production does', async () => {
    expect(() =>
      createTestMailer({ providers: [{ name: 'x', provider: 'ses', mode: 'api', regoin: 'eu-west-1' }] }),
    ).toThrow(ConfigurationError);
    const { mailer } = createTestMailer(production);
    await expect(mailer.send(welcome('bob@example.org', { providerOptions: { ses: { speed: 1 } } }))).rejects.toThrow(
      /providerOptions\.ses/,
    );
  });
});

describe('useMailer: the package-wide send() through a test mailer', () => {
  it('records what code calling send() sent, then goes back to the configured mailer', async () => {
    const { send, useMailer } = await import('../../index.ts');
    const { createTestMailer } = await import('../../testing/index.ts');
    const { mailer, outbox } = createTestMailer();
    useMailer(mailer);
    try {
      await send({ from: 'app@example.com', to: 'faked@example.org', subject: 'Through send()', text: 'x' });
      outbox.assertSent({ to: 'faked@example.org', subject: 'Through send()' });
    } finally {
      useMailer();
      await mailer.close();
    }
  });
});
