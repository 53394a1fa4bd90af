import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventRejectedError } from '../../core/errors.ts';
import { type MailEvent, mailEventSchema } from '../../core/events/event.ts';
import { dsnEvents, parseDeliveryStatus } from '../../core/events/sources/dsn.ts';

const ORIGINAL_ID = '<0f1e2d3c.send-42@mail.example.com>';

/** The message we sent, as a relay returns it inside its DSN. */
const returnedMessage = [
  'From: App <app@mail.example.com>',
  'To: alice@example.net, bob@example.org',
  'Subject: Your receipt',
  'Date: Tue, 01 Jan 2030 09:59:00 +0000',
  `Message-ID: ${ORIGINAL_ID}`,
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Thanks for your order.',
].join('\r\n');

interface Part {
  type: string;
  body: string;
}

/** A `multipart/report` DSN built by hand, CRLF line ends, like an MTA writes it. */
function report(options: { from?: string; subject?: string; headers?: string[]; reportType?: string; parts: Part[] }) {
  const boundary = 'b0undary.2030.report';
  return [
    `From: ${options.from ?? 'Mail Delivery System <MAILER-DAEMON@relay.example.com>'}`,
    'To: app@mail.example.com',
    `Subject: ${options.subject ?? 'Undelivered Mail Returned to Sender'}`,
    'Date: Tue, 01 Jan 2030 10:05:00 +0000',
    'Message-ID: <dsn.1@relay.example.com>',
    'Auto-Submitted: auto-replied',
    ...(options.headers ?? []),
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${options.reportType ?? 'delivery-status'};`,
    `\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    ...options.parts.flatMap((part) => [`--${boundary}`, `Content-Type: ${part.type}`, '', part.body, '']),
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

const notice = (body: string): Part => ({ type: 'text/plain; charset=us-ascii', body });
const status = (...blocks: string[][]): Part => ({
  type: 'message/delivery-status',
  body: blocks.map((b) => b.join('\r\n')).join('\r\n\r\n'),
});
const returned: Part = { type: 'message/rfc822', body: returnedMessage };

const perMessage = [
  'Reporting-MTA: dns; relay.example.com',
  'X-Postfix-Queue-ID: 4Abc123',
  'Arrival-Date: Tue, 01 Jan 2030 10:00:00 +0000',
];

function valid(events: MailEvent[]): MailEvent[] {
  return events.map((event) => mailEventSchema.parse(event));
}

async function rejection(eml: string | Buffer): Promise<EventRejectedError> {
  try {
    await dsnEvents(eml);
  } catch (error) {
    expect(error).toBeInstanceOf(EventRejectedError);
    return error as EventRejectedError;
  }
  throw new Error('expected the message to be refused');
}

describe('dsnEvents: RFC 3464 delivery-status fields', () => {
  const twoRecipients = report({
    parts: [
      notice('I could not deliver your message to some of its recipients.'),
      status(
        perMessage,
        [
          'Final-Recipient: rfc822; alice@example.net',
          'Original-Recipient: rfc822;alice@example.net',
          'Action: failed',
          'Status: 5.1.1',
          'Remote-MTA: dns; mx.example.net',
          'Diagnostic-Code: smtp; 550 5.1.1 <alice@example.net>: Recipient address',
          '    rejected: User unknown',
          'Last-Attempt-Date: Tue, 01 Jan 2030 10:04:00 +0000',
        ],
        [
          'Final-Recipient: rfc822; <bob@example.org>',
          'Action: delayed',
          'Status: 4.4.1',
          'Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.7]:25: Connection timed out',
          'Will-Retry-Until: Sat, 05 Jan 2030 10:00:00 +0000',
        ],
      ),
      returned,
    ],
  });

  it('gives one event per recipient block: a hard bounce for 5.1.1, a deferral for 4.4.1', async () => {
    const [alice, bob, ...rest] = valid(await dsnEvents(twoRecipients));
    expect(rest).toEqual([]);
    expect(alice).toMatchObject({
      type: 'bounced',
      bounceType: 'hard',
      provider: 'smtp',
      recipient: 'alice@example.net',
      messageId: ORIGINAL_ID,
      status: '5.1.1',
      reason: 'Bad destination mailbox address',
      diagnostic: 'smtp; 550 5.1.1 <alice@example.net>: Recipient address rejected: User unknown',
      eventTime: '2030-01-01T10:04:00.000Z',
    });
    expect(bob).toMatchObject({
      type: 'deferred',
      provider: 'smtp',
      recipient: 'bob@example.org',
      messageId: ORIGINAL_ID,
      status: '4.4.1',
      reason: 'No answer from host',
      // No Last-Attempt-Date: the per-message Arrival-Date.
      eventTime: '2030-01-01T10:00:00.000Z',
    });
    expect(bob?.bounceType).toBeUndefined();
    expect(alice?.raw).toMatchObject({
      message: { 'reporting-mta': 'dns; relay.example.com' },
      recipient: { action: 'failed', status: '5.1.1' },
    });
  });

  it('takes a Buffer as well, and the provider the caller names', async () => {
    const events = await dsnEvents(Buffer.from(twoRecipients), { provider: 'ses' });
    expect(events.map((e) => [e.provider, e.type])).toEqual([
      ['ses', 'bounced'],
      ['ses', 'deferred'],
    ]);
  });

  it('maps every Action, a failed 4.x.x to a soft bounce, and reads text/rfc822-headers', async () => {
    const recipient = (address: string, action: string, code: string, extra: string[] = []) => [
      `Final-Recipient: rfc822; ${address}`,
      `Action: ${action}`,
      `Status: ${code}`,
      ...extra,
    ];
    const eml = report({
      parts: [
        notice('Delivery report.'),
        status(
          perMessage,
          recipient('a@example.net', 'delivered', '2.0.0'),
          recipient('b@example.net', 'relayed', '2.0.0'),
          recipient('c@example.net', 'expanded', '2.0.0'),
          recipient('d@example.net', 'failed', '4.2.2', ['Diagnostic-Code: smtp; 452 4.2.2 Mailbox full']),
          recipient('e@example.net', 'failed', '5.7.1'),
          ['Final-Recipient: rfc822; f@example.net', 'Diagnostic-Code: smtp; 550 no such user'],
        ),
        { type: 'text/rfc822-headers', body: returnedMessage.split('\r\n\r\n')[0]! },
      ],
    });
    const events = valid(await dsnEvents(eml));
    expect(events.map((e) => [e.recipient, e.type, e.bounceType])).toEqual([
      ['a@example.net', 'delivered', undefined],
      ['b@example.net', 'delivered', undefined],
      ['c@example.net', 'unknown', undefined],
      ['d@example.net', 'bounced', 'soft'],
      ['e@example.net', 'bounced', 'hard'],
      // No Action and no Status: the reply code decides.
      ['f@example.net', 'bounced', 'hard'],
    ]);
    expect(events[2]?.reason).toMatch(/expanded/);
    expect(events[3]?.reason).toBe('Mailbox full');
    expect(events.every((e) => e.messageId === ORIGINAL_ID)).toBe(true);
  });

  it('parses the fields: blank-line blocks, folded lines, any case', () => {
    const parsed = parseDeliveryStatus(
      'reporting-mta: dns; a.example\n\nFINAL-RECIPIENT: RFC822; x@example.com\nAction: Failed\nDiagnostic-Code: smtp;\n  550 gone\n',
    );
    expect(parsed).toEqual({
      message: { 'reporting-mta': 'dns; a.example' },
      recipients: [
        { 'final-recipient': 'RFC822; x@example.com', action: 'Failed', 'diagnostic-code': 'smtp; 550 gone' },
      ],
    });
  });
});

describe('dsnEvents: Gmail and text-only bounces', () => {
  const googleFrom = 'Mail Delivery Subsystem <mailer-daemon@googlemail.com>';

  it('reads the text when the delivery-status part is empty (Google Workspace)', async () => {
    const eml = report({
      from: googleFrom,
      subject: 'Delivery Status Notification (Failure)',
      headers: ['X-Failed-Recipients: nobody@example.net'],
      parts: [
        notice(
          [
            '** Address not found **',
            '',
            "Your message wasn't delivered to nobody@example.net because the address couldn't be found.",
            '',
            'The response was:',
            '',
            '550 5.1.1 The email account that you tried to reach does not exist. Please try',
            "double-checking the recipient's email address.",
          ].join('\r\n'),
        ),
        { type: 'message/delivery-status', body: '' },
        returned,
      ],
    });
    const [event, ...rest] = valid(await dsnEvents(eml));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: 'bounced',
      bounceType: 'hard',
      provider: 'gmail',
      recipient: 'nobody@example.net',
      messageId: ORIGINAL_ID,
      status: '5.1.1',
      eventTime: '2030-01-01T10:05:00.000Z',
    });
    expect(event?.diagnostic).toMatch(/^550 5\.1\.1 The email account that you tried to reach does not exist/);
  });

  it('finds the recipient in the text when there is no X-Failed-Recipients header', async () => {
    const eml = report({
      from: googleFrom,
      subject: 'Delivery Status Notification (Failure)',
      parts: [
        notice(
          "** Address not found **\r\n\r\nYour message wasn't delivered to carol@example.org because the address couldn't be found. The email account that you tried to reach does not exist.",
        ),
        { type: 'message/delivery-status', body: '' },
        returned,
      ],
    });
    const [event] = valid(await dsnEvents(eml));
    expect(event).toMatchObject({ type: 'bounced', bounceType: 'hard', recipient: 'carol@example.org' });
  });

  it('reports a temporary failure in the text as deferred', async () => {
    const eml = report({
      from: googleFrom,
      subject: 'Delivery Status Notification (Delay)',
      headers: ['X-Failed-Recipients: slow@example.net'],
      parts: [
        notice(
          '** Delivery incomplete **\r\n\r\nThere was a temporary problem delivering your message to slow@example.net. Gmail will retry for 46 more hours.\r\n\r\nThe response was:\r\n\r\n421 4.7.0 Try again later',
        ),
        { type: 'message/delivery-status', body: '' },
        returned,
      ],
    });
    const [event] = valid(await dsnEvents(eml));
    expect(event).toMatchObject({ type: 'deferred', recipient: 'slow@example.net', status: '4.7.0' });
    expect(event?.bounceType).toBeUndefined();
  });

  it('reads an old plain-text Gmail bounce, with the original message quoted in it', async () => {
    const eml = [
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      'To: app@gmail.example',
      'X-Failed-Recipients: ghost@example.jp',
      'Subject: Delivery Status Notification (Failure)',
      'Message-ID: <plain.1@google.com>',
      'Date: Tue, 01 Jan 2030 11:00:00 +0000',
      'Content-Type: text/plain; charset=ISO-8859-1',
      '',
      'Delivery to the following recipient failed permanently:',
      '',
      '     ghost@example.jp',
      '',
      'The error that the other server returned was:',
      '550 5.1.1 <ghost@example.jp>... User Unknown',
      '',
      '----- Original message -----',
      '',
      'From: app@gmail.example',
      'Subject: hello',
      `Message-Id: ${ORIGINAL_ID}`,
      '',
      'hello',
    ].join('\r\n');
    const [event] = valid(await dsnEvents(eml));
    expect(event).toMatchObject({
      type: 'bounced',
      bounceType: 'hard',
      provider: 'gmail',
      recipient: 'ghost@example.jp',
      messageId: ORIGINAL_ID,
      diagnostic: '550 5.1.1 <ghost@example.jp>... User Unknown',
      eventTime: '2030-01-01T11:00:00.000Z',
    });
  });
});

describe('dsnEvents: what is not a DSN', () => {
  it('refuses an ordinary message, a read receipt and garbage with 400', async () => {
    const plain = returnedMessage;
    const mdn = report({
      reportType: 'disposition-notification',
      parts: [
        notice('Your message was displayed.'),
        { type: 'message/disposition-notification', body: 'Disposition: manual-action/MDN-sent-manually; displayed' },
      ],
    });
    for (const eml of [plain, mdn, '', 'not a message at all']) {
      const error = await rejection(eml);
      expect([error.status, error.source]).toEqual([400, 'dsn']);
      expect(error.message).toContain('not a delivery status notification');
    }
  });
});

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/events/', import.meta.url));
const haveFixtures = existsSync(FIXTURES);

const EXPECTED: Record<string, Partial<MailEvent>> = {
  'dsn-gmail-failure-plaintext.eml': {
    type: 'bounced',
    bounceType: 'hard',
    provider: 'gmail',
    recipient: 'userunknown@example.jp',
    messageId: '<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>',
    status: '5.1.1',
  },
  // Its delivery-status part is empty and its text gives no code ("Message not delivered"): a bounce of unknown kind.
  'dsn-gmail-workspace-failure.eml': {
    type: 'bounced',
    bounceType: 'undetermined',
    provider: 'gmail',
    recipient: 'neko-nyaan-cat-meeting@google-groups.example.com',
    messageId: '<CAByYQsF5qdTf_h-1AAVPW0RgR1YN+LE=+0Uv9LpQ4aA_myPtCw@mail.gmail.com>',
  },
  'dsn-rfc3464-postfix-5.0.0.eml': {
    type: 'bounced',
    bounceType: 'hard',
    provider: 'smtp',
    recipient: 'kijitora@example.com',
    messageId: '<220000000022.0000.0000000000000000222@NEKO.NYAAN>',
    status: '5.0.0',
  },
  'dsn-rfc3464-sendmail-5.1.1.eml': {
    type: 'bounced',
    bounceType: 'hard',
    provider: 'smtp',
    recipient: 'userunknown@bouncehammer.jp',
    messageId: '<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>',
    status: '5.1.1',
    eventTime: '2013-10-16T05:15:35.000Z',
  },
};

describe.skipIf(!haveFixtures)(
  'published samples in shared/fixtures/events (skipped when that folder is absent)',
  () => {
    const files = haveFixtures ? readdirSync(FIXTURES).filter((f) => /^dsn-.*\.eml$/.test(f)) : [];

    it('finds the samples', () => {
      expect(files.length).toBeGreaterThanOrEqual(Object.keys(EXPECTED).length);
    });

    it.each(files)('%s', async (file) => {
      const events = valid(await dsnEvents(readFileSync(`${FIXTURES}${file}`)));
      expect(events.length).toBeGreaterThan(0);
      for (const event of events) {
        expect(event.type).not.toBe('unknown');
        expect(event.recipient).toMatch(/@/);
        expect(event.messageId).toMatch(/^<[^<>]+@[^<>]+>$/);
      }
      const expected = EXPECTED[file];
      if (expected) {
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject(expected);
      }
    });
  },
);
