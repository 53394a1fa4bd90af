import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import {
  GMAIL_INSERT_SCOPE,
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  type GmailEmulator,
  startGmailEmulator,
} from '../../emulators/gmail/index.ts';
import { createGmailApiClient } from '../../providers/gmail/api-client.ts';

// `mailroute events poll`: the bounces that came back to the Gmail sending mailbox, read through the Gmail API
// emulator with the real client, applied to the suppression list, and each read once.

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const key = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');
const dsn = (recipient: string, messageId: string) =>
  crlf(`From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: ${SENDER}
Subject: Undelivered Mail Returned to Sender
Date: ${new Date().toUTCString()}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; ${recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--b
Content-Type: text/rfc822-headers

From: ${SENDER}
To: ${recipient}
Subject: hello
Message-ID: ${messageId}

--b--
`);

let emulator: GmailEmulator;
let dir: string;
let configFile: string;
let lines: string[];

async function cli(...args: string[]) {
  lines = [];
  const code = await main(args, (l) => lines.push(l));
  return { code, events: code === 0 ? lines.map((l) => JSON.parse(l)) : [], json: () => JSON.parse(lines.join('\n')) };
}

async function deliver(raw: string) {
  const gmail = createGmailApiClient(
    { clientEmail: SERVICE_ACCOUNT, privateKey: key.privateKey, user: SENDER, tokenUrl: emulator.tokenUrl },
    `${emulator.url}/`,
    GMAIL_INSERT_SCOPE,
  ).gmail;
  await gmail.users.messages.insert({
    userId: 'me',
    requestBody: { raw: Buffer.from(raw).toString('base64url'), labelIds: ['INBOX'] },
  });
}

beforeAll(async () => {
  emulator = await startGmailEmulator({
    serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: key.publicKey }],
    delegatedUsers: [SENDER],
  });
  dir = mkdtempSync(join(tmpdir(), 'mr-poll-'));
  configFile = join(dir, 'mailroute.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        {
          name: 'gmail',
          provider: 'gmail',
          mode: 'api',
          endpoint: emulator.url,
          user: SENDER,
          serviceAccount: {
            clientEmail: SERVICE_ACCOUNT,
            privateKey: { env: 'MR_POLL_KEY' },
            tokenUrl: emulator.tokenUrl,
          },
        },
      ],
    }),
  );
  vi.stubEnv('MR_POLL_KEY', key.privateKey);
  vi.stubEnv('MAILROUTE_STATE_FILE', join(dir, 'state.json'));
});
afterAll(async () => {
  await emulator.close();
  vi.unstubAllEnvs();
});

describe('mailroute events poll', () => {
  it('applies each new bounce once, and says which scope to grant when it may not read', async () => {
    emulator.setDelegatedScopes([GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE, GMAIL_INSERT_SCOPE]);
    await deliver(dsn('nobody@example.net', '<first@example.com>'));
    const first = await cli('events', 'poll', '--config', configFile);
    expect(first.code).toBe(0);
    expect(first.events).toEqual([
      expect.objectContaining({
        type: 'bounced',
        bounceType: 'hard',
        provider: 'gmail',
        recipient: 'nobody@example.net',
        messageId: '<first@example.com>',
        suppression: 'suppressed',
      }),
    ]);
    // Nothing new: nothing printed, nothing applied again.
    const again = await cli('events', 'poll', '--entry', 'gmail', '--config', configFile);
    expect(again).toMatchObject({ code: 0, events: [] });
    await deliver(dsn('later@example.net', '<second@example.com>'));
    const next = await cli('events', 'poll', '--since', '1', '--config', configFile);
    expect(next.events.map((e) => e.recipient)).toEqual(['later@example.net']);
    expect(
      (await cli('suppressions', 'list', '--config', configFile))
        .json()
        .suppressions.map((s: { address: string }) => s.address),
    ).toEqual(['later@example.net', 'nobody@example.net']);

    emulator.setDelegatedScopes([GMAIL_SEND_SCOPE]);
    const refused = await cli('events', 'poll', '--since', '1', '--config', configFile);
    expect(refused.code).toBe(1);
    expect(refused.json().error).toMatchObject({
      code: 'CONFIGURATION',
      message: expect.stringContaining(GMAIL_READONLY_SCOPE),
    });
  });

  it('names the gmail entries when --entry names none', async () => {
    const wrong = await cli('events', 'poll', '--entry', 'ses', '--config', configFile);
    expect(wrong.code).toBe(2);
    expect(wrong.json().error.message).toBe('--entry must name a gmail provider entry (have: gmail)');
  });
});
