import { generateKeyPairSync } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MailrouteConfig, validateConfig } from '../../core/config/config.ts';
import { ConfigurationError, ThrottledError, TransientError } from '../../core/errors.ts';
import {
  GMAIL_INSERT_SCOPE,
  GMAIL_METADATA_SCOPE,
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  type GmailEmulator,
  startGmailEmulator,
} from '../../emulators/gmail/index.ts';
import { createGmailApiClient } from '../../providers/gmail/api-client.ts';
import { type GmailBounceOptions, gmailBounces } from '../../providers/gmail/bounces.ts';
import type { GmailConfig } from '../../providers/gmail/config.ts';
import { startHangingProxy } from '../helpers/hanging-proxy.ts';

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const DAY = 86_400_000;
const key = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');

/** A Postfix bounce: RFC 3464 multipart/report with its message/delivery-status part. */
const postfixDsn = (date = new Date()) =>
  crlf(`Return-Path: <>
Date: ${date.toUTCString()}
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: ${SENDER}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-boundary"
Message-Id: <20260801120000.4ABC@mx.example.net>

This is a MIME-encapsulated message.

--dsn-boundary
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@example.net>: host mail.example.net[192.0.2.25] said: 550 5.1.1
    <nobody@example.net>: Recipient address rejected: User unknown

--dsn-boundary
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4ABC
Arrival-Date: ${date.toUTCString()}

Final-Recipient: rfc822; nobody@example.net
Original-Recipient: rfc822;nobody@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.net
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown

--dsn-boundary
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: ${SENDER}
To: nobody@example.net
Subject: hello
Message-ID: <first@example.com>

--dsn-boundary--
`);

/** Google's own bounce, as plain text, from mailer-daemon@googlemail.com. */
const gmailDsn = crlf(`Delivered-To: ${SENDER}
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: ${SENDER}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
References: <second@example.com>
In-Reply-To: <second@example.com>
Message-ID: <5f1c.0a@mx.google.com>
Date: ${new Date().toUTCString()}
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to gone@example.org because the address couldn't be found, or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.
`);

/** Neither is a bounce: "daemon" alone is not the words mailer-daemon. */
const ordinary = crlf(`From: Daemon Fan <fan@example.org>
To: ${SENDER}
Subject: Lunch on Friday?
Message-ID: <lunch@example.org>
Date: ${new Date().toUTCString()}

The mailer daemon at my office is down again.
`);
const sent = crlf(`From: ${SENDER}
To: nobody@example.net
Subject: hello
Message-ID: <first@example.com>

body
`);

let emulator: GmailEmulator;
let config: MailrouteConfig;

const entry = (name = 'gmail') => config.providers.find((p) => p.name === name) as GmailConfig;
const account = () => ({
  clientEmail: SERVICE_ACCOUNT,
  privateKey: key.privateKey,
  user: SENDER,
  tokenUrl: emulator.tokenUrl,
});
/** The real @googleapis/gmail client, for the mail a test puts into the mailbox. */
const client = (scope: string) => createGmailApiClient(account(), `${emulator.url}/`, scope).gmail;
const insert = async (raw: string, labelIds: string[], extra: { internalDateSource?: string } = {}) => {
  const response = await client(GMAIL_INSERT_SCOPE).users.messages.insert({
    userId: 'me',
    requestBody: { raw: Buffer.from(raw).toString('base64url'), labelIds },
    ...extra,
  });
  return response.data.id!;
};
/** The same as a multipart upload (metadata, then the message as message/rfc822). */
const upload = async (raw: string, labelIds: string[]) => {
  const response = await client(GMAIL_INSERT_SCOPE).users.messages.insert(
    { userId: 'me', requestBody: { labelIds }, media: { mimeType: 'message/rfc822', body: raw } },
    // googleapis-common ignores the client-level rootUrl for uploads.
    { rootUrl: `${emulator.url}/` },
  );
  return response.data.id!;
};
const collect = async (options: GmailBounceOptions = {}, name?: string) => {
  const out = [];
  for await (const bounce of gmailBounces(entry(name), options)) out.push(bounce);
  return out;
};
const subjects = async (bounces: { raw: Buffer }[]) =>
  Promise.all(bounces.map(async (bounce) => (await simpleParser(bounce.raw)).subject));
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

beforeAll(async () => {
  emulator = await startGmailEmulator({
    serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: key.publicKey }],
    delegatedUsers: [SENDER],
  });
  process.env.MR_TEST_GMAIL_BOUNCES_KEY = key.privateKey;
  const serviceAccount = {
    clientEmail: SERVICE_ACCOUNT,
    privateKey: { env: 'MR_TEST_GMAIL_BOUNCES_KEY' },
    tokenUrl: emulator.tokenUrl,
  };
  config = validateConfig({
    providers: [
      { name: 'gmail', provider: 'gmail', mode: 'api', endpoint: emulator.url, serviceAccount, user: SENDER },
      { name: 'xoauth2', provider: 'gmail', mode: 'smtp', smtpAuth: 'xoauth2', serviceAccount, user: SENDER },
      { name: 'relay', provider: 'gmail', mode: 'smtp', domain: 'example.com' },
    ],
  });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  emulator.setDelegatedScopes([GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE, GMAIL_INSERT_SCOPE]);
});

describe('gmailBounces(): DSNs read from the sending mailbox', () => {
  /** Two bounces, an ordinary message in the inbox and a sent one, in that order of arrival. */
  async function mailbox() {
    const postfixRaw = postfixDsn();
    const postfix = await upload(postfixRaw, ['INBOX', 'UNREAD']);
    const google = await insert(gmailDsn, ['INBOX']);
    await insert(ordinary, ['INBOX', 'UNREAD']);
    await client(GMAIL_SEND_SCOPE).users.messages.send({
      userId: 'me',
      requestBody: { raw: Buffer.from(sent).toString('base64url') },
    });
    return { postfix, google, raws: [postfixRaw, gmailDsn] };
  }

  it('yields exactly the two bounces, byte for byte, oldest first', async () => {
    const { postfix, google, raws } = await mailbox();
    expect(emulator.store).toHaveLength(4);
    const bounces = await collect();
    expect(bounces.map((bounce) => bounce.id)).toEqual([postfix, google]);
    expect(bounces.map((bounce) => bounce.raw)).toEqual(raws.map((raw) => Buffer.from(raw)));
    expect(await subjects(bounces)).toEqual([
      'Undelivered Mail Returned to Sender',
      'Delivery Status Notification (Failure)',
    ]);
    for (const bounce of bounces) {
      expect(bounce.internalDate).toMatch(/^\d+$/);
      expect(Math.abs(Number(bounce.internalDate) - Date.now())).toBeLessThan(60_000);
    }
  });

  it('pages through the listing; maxMessages takes the oldest', async () => {
    const { postfix, google } = await mailbox();
    const third = await insert(gmailDsn.replace('(Failure)', '(Delay)'), ['INBOX']);
    expect((await collect({ pageSize: 1 })).map((bounce) => bounce.id)).toEqual([postfix, google, third]);
    expect((await collect({ pageSize: 2, maxMessages: 2 })).map((bounce) => bounce.id)).toEqual([postfix, google]);
  });

  it('after: leaves out what Gmail received before it', async () => {
    const old = new Date(Date.now() - 3 * DAY);
    // internalDateSource=dateHeader: Gmail dates the message by its Date header, as a late delivery would be.
    const older = await insert(postfixDsn(old), ['INBOX'], { internalDateSource: 'dateHeader' });
    const { postfix, google } = await mailbox();
    expect((await collect()).map((bounce) => bounce.id)).toEqual([older, postfix, google]);
    const recent = await collect({ after: new Date(Date.now() - DAY) });
    expect(recent.map((bounce) => bounce.id)).toEqual([postfix, google]);
    expect(await collect({ after: new Date(Date.now() + 60_000) })).toEqual([]);
    const [first] = await collect({ maxMessages: 1 });
    expect(first).toMatchObject({ id: older, internalDate: String(Math.floor(old.getTime() / 1000) * 1000) });
  });

  it('finds an archived bounce (out of the inbox) but not one in spam or trash', async () => {
    const archived = await insert(gmailDsn, []);
    await insert(gmailDsn, ['SPAM']);
    await insert(gmailDsn, ['TRASH']);
    expect((await collect()).map((bounce) => bounce.id)).toEqual([archived]);
  });

  it('other senders: the from: terms are an option', async () => {
    await mailbox();
    const fan = await collect({ senders: ['fan@example.org'] });
    expect(await subjects(fan)).toEqual(['Lunch on Friday?']);
    expect(await collect({ senders: ['googlemail.com'] })).toHaveLength(1);
    expect(await collect({ senders: ['Mail Delivery Subsystem', 'mx.example.net'] })).toHaveLength(2);
    expect(await collect({ senders: [] })).toEqual([]);
  });

  it('skips a message deleted between the listing and its reading', async () => {
    await mailbox();
    const bounces = gmailBounces(entry());
    const first = await bounces.next();
    expect(first.done).toBe(false);
    emulator.store.splice(1, 1);
    expect(await bounces.next()).toEqual({ done: true, value: undefined });
  });

  it('renews a token the API refused (revoked or expired early)', async () => {
    await mailbox();
    const bounces = gmailBounces(entry());
    expect((await bounces.next()).done).toBe(false);
    emulator.expireTokens();
    expect((await bounces.next()).done).toBe(false);
    expect((await bounces.next()).done).toBe(true);
  });

  it('reads with the service account of an SMTP XOAUTH2 entry, given the API endpoint', async () => {
    await mailbox();
    expect(await collect({ endpoint: emulator.url }, 'xoauth2')).toHaveLength(2);
  });

  it('gmail.readonly not delegated → ConfigurationError naming the scope to grant', async () => {
    await mailbox();
    emulator.setDelegatedScopes([GMAIL_SEND_SCOPE, GMAIL_INSERT_SCOPE]);
    const error = await failure(collect());
    expect(error).toBeInstanceOf(ConfigurationError);
    const refused = error as ConfigurationError;
    expect(refused.message).toContain(`reading bounces needs the scope ${GMAIL_READONLY_SCOPE} for ${SENDER}`);
    expect(refused.message).toContain('Domain-wide delegation');
    expect(refused.message).toContain('unauthorized_client');
    expect(refused.issues).toEqual([
      { path: 'serviceAccount', message: `needs ${GMAIL_READONLY_SCOPE} in its domain-wide delegation` },
    ]);
    expect(refused).toMatchObject({ provider: 'gmail', mode: 'api', retryable: false });
  });

  it('an entry without a service account → ConfigurationError naming the fields', async () => {
    const error = await failure(collect({}, 'relay'));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues.map((issue) => issue.path)).toEqual(['serviceAccount', 'user']);
  });

  it('throttled, failing or unreachable → the retryable error classes', async () => {
    const { google } = await mailbox();
    emulator.faults.add({ status: 429, retryAfter: 3, pathIncludes: '/users/me/messages' });
    const throttled = await failure(collect());
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ retryAfterMs: 3000 });
    emulator.faults.add({ status: 503, pathIncludes: `/users/me/messages/${google}` });
    expect(await failure(collect())).toBeInstanceOf(TransientError);
    expect(await failure(collect({ endpoint: 'http://127.0.0.1:9/' }))).toBeInstanceOf(TransientError);
  });

  it('an aborted signal stops it with the signal’s reason', async () => {
    await mailbox();
    const controller = new AbortController();
    controller.abort(new Error('poller stopped'));
    await expect(collect({ signal: controller.signal })).rejects.toThrow('poller stopped');
    // Aborted while Gmail holds the answer back: abandoned at once.
    // Gmail takes the request and never answers: the collection can only end by its signal, and the proxy sees
    // the connection closed when the client really abandons the request (rather than only stops waiting).
    const quiet = await startHangingProxy(emulator.url);
    try {
      quiet.hang((req) => (req.url ?? '').includes('/users/me/messages'));
      await expect(collect({ endpoint: quiet.url, signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
        name: 'TimeoutError',
      });
      expect(quiet.held()).toBe(1);
      await quiet.released();
    } finally {
      await quiet.close();
    }
  });
});

describe('Gmail emulator: insert, get and from:, with the real client', () => {
  it('insert needs gmail.insert, gmail.modify or mail.google.com; readonly may not', async () => {
    const error = await failure(
      client(GMAIL_READONLY_SCOPE).users.messages.insert({
        userId: 'me',
        requestBody: { raw: Buffer.from(gmailDsn).toString('base64url'), labelIds: ['INBOX'] },
      }),
    );
    expect(error).toMatchObject({
      status: 403,
      response: { data: { error: { errors: [{ reason: 'insufficientPermissions' }] } } },
    });
    expect(emulator.store).toHaveLength(0);
  });

  it('refuses an unknown label, adds SENT when From is the user, stores nothing without raw', async () => {
    const invalid = await failure(insert(gmailDsn, ['INBOX', 'CHAT']));
    expect(invalid).toMatchObject({ status: 400, response: { data: { error: { message: 'Invalid label: CHAT' } } } });
    const id = await insert(sent, []);
    expect(emulator.store.find((m) => m.id === id)?.labelIds).toEqual(['SENT']);
    const noRaw = await failure(client(GMAIL_INSERT_SCOPE).users.messages.insert({ userId: 'me', requestBody: {} }));
    expect(noRaw).toMatchObject({ status: 400 });
    expect(emulator.store).toHaveLength(1);
  });

  it('get: format raw (base64url) and minimal; 404 for an unknown id; full is 501; metadata may not read raw', async () => {
    const id = await insert(gmailDsn, ['INBOX']);
    const reader = client(GMAIL_READONLY_SCOPE);
    const raw = await reader.users.messages.get({ userId: 'me', id, format: 'raw' });
    expect(raw.data).toEqual({
      id,
      threadId: id,
      labelIds: ['INBOX'],
      sizeEstimate: Buffer.byteLength(gmailDsn),
      internalDate: expect.stringMatching(/^\d+$/),
      raw: Buffer.from(gmailDsn).toString('base64url'),
    });
    const minimal = await reader.users.messages.get({ userId: 'me', id, format: 'minimal' });
    expect(minimal.data.raw).toBeUndefined();
    const get = (format?: string, messageId = id) =>
      failure(reader.users.messages.get({ userId: 'me', id: messageId, format }, { retry: false }));
    expect(await get('raw', 'ffffffffffffffff')).toMatchObject({ status: 404 });
    expect(await get()).toMatchObject({ status: 501 });
    emulator.setDelegatedScopes([GMAIL_READONLY_SCOPE, GMAIL_METADATA_SCOPE]);
    const metadata = client(GMAIL_METADATA_SCOPE);
    const refused = await failure(metadata.users.messages.get({ userId: 'me', id, format: 'raw' }));
    expect(refused).toMatchObject({
      status: 403,
      response: { data: { error: { message: "Metadata scope doesn't allow format RAW" } } },
    });
  });

  it('from: matches whole words of the name or the address, case-insensitively; {a b} is either', async () => {
    await insert(gmailDsn, ['INBOX']);
    await insert(postfixDsn(), ['INBOX']);
    await insert(ordinary, ['INBOX']);
    const reader = client(GMAIL_READONLY_SCOPE);
    const count = async (q: string) =>
      (await reader.users.messages.list({ userId: 'me', q }, { retry: false })).data.resultSizeEstimate;
    expect(await count('from:mailer-daemon')).toBe(2);
    expect(await count('from:MAILER-DAEMON@googlemail.com')).toBe(1);
    expect(await count('from:"mail delivery subsystem"')).toBe(1);
    expect(await count('from:daemon')).toBe(3);
    expect(await count('from:ail')).toBe(0);
    expect(await count('{from:googlemail.com from:fan@example.org} in:inbox')).toBe(2);
    expect(await failure(reader.users.messages.list({ userId: 'me', q: '{from:a' }, { retry: false }))).toMatchObject({
      status: 501,
    });
  });
});
