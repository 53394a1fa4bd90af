import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/mailroute.js', import.meta.url).pathname;

let dir: string;
let lines: string[];
const out = (line: string) => lines.push(line);
const json = () => JSON.parse(lines.join('\n'));

/** Runs one CLI command in this process, with this test's own state file and outbox. */
async function cli(...args: string[]): Promise<number> {
  lines = [];
  return main(args, out);
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const sesRecord = (type: 'Permanent' | 'Transient', recipient: string) => ({
  eventType: 'Bounce',
  bounce: {
    bounceType: type,
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: recipient, diagnosticCode: 'smtp; 550 5.1.1 user unknown', status: '5.1.1' }],
    timestamp: '2026-11-30T10:00:00.000Z',
    feedbackId: 'feedback-1',
  },
  mail: {
    timestamp: '2026-11-30T09:59:58.000Z',
    source: 'app@example.com',
    messageId: 'ses-id-1',
    destination: [recipient],
  },
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mr-events-cli-'));
  vi.stubEnv('MAILROUTE_STATE_FILE', join(dir, 'state.json'));
  vi.stubEnv('MAILROUTE_OUTBOX', join(dir, 'outbox'));
  vi.stubEnv('MAILROUTE_CONFIG', '');
  vi.stubEnv('MAILROUTE_CONFIG_FILE', '');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('mailroute events and suppressions', () => {
  it('ingest prints each event normalized, one JSON line each, and a hard bounce suppresses its recipient', async () => {
    const bounce = file('bounce.json', JSON.stringify(sesRecord('Permanent', 'Gone@Example.org')));
    expect(await cli('events', 'ingest', '--source', 'ses', bounce)).toBe(0);
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0]!);
    expect(event).toMatchObject({
      type: 'bounced',
      bounceType: 'hard',
      provider: 'ses',
      recipient: 'Gone@Example.org',
      providerMessageId: 'ses-id-1',
      suppression: 'suppressed',
    });
    expect(event.raw).toBeUndefined();
    // Ingested again (a redelivery): printed, marked repeated, not counted twice.
    expect(await cli('events', 'ingest', '--source', 'ses', '--raw', bounce)).toBe(0);
    expect(JSON.parse(lines[0]!)).toMatchObject({ repeated: true, raw: { eventType: 'Bounce' } });

    expect(await cli('suppressions', 'list')).toBe(0);
    expect(json().suppressions).toEqual([
      expect.objectContaining({ address: 'gone@example.org', reason: 'bounced', provider: 'ses' }),
    ]);
    // The embedded default's send refuses it, naming the recipient and why.
    const message = file(
      'm.json',
      JSON.stringify({ from: 'a@example.com', to: 'gone@example.org', subject: 's', text: 't' }),
    );
    expect(await cli('send', '--message', message)).toBe(1);
    expect(json().error).toMatchObject({
      code: 'SUPPRESSED',
      recipients: [{ address: 'gone@example.org', reason: 'bounced' }],
    });

    expect(await cli('events', 'stats')).toBe(0);
    expect(json().providers).toEqual([
      expect.objectContaining({ provider: 'ses', counts: { bounced: 1, 'bounced.hard': 1 } }),
    ]);
  });

  it('add, import and remove by hand; the list is sorted and the removal lets mail through', async () => {
    expect(await cli('suppressions', 'add', 'One@example.org', '--reason', 'asked by phone')).toBe(0);
    expect(json().added).toEqual(['one@example.org']);
    const csv = file(
      'list.csv',
      'address,reason\n# a comment\nthree@example.org,complaint\n\n"two@example.org",bounce\n',
    );
    expect(await cli('suppressions', 'import', csv)).toBe(0);
    expect(json().added).toEqual(['three@example.org', 'two@example.org']);
    expect(await cli('suppressions', 'list')).toBe(0);
    expect(json().suppressions.map((s: { address: string; detail?: string }) => [s.address, s.detail])).toEqual([
      ['one@example.org', 'asked by phone'],
      ['three@example.org', 'complaint'],
      ['two@example.org', 'bounce'],
    ]);
    expect(await cli('suppressions', 'remove', 'ONE@example.org', 'nobody@example.org')).toBe(0);
    expect(json()).toMatchObject({ removed: ['ONE@example.org'], notSuppressed: ['nobody@example.org'] });
    const message = file(
      'm.json',
      JSON.stringify({ from: 'a@example.com', to: 'one@example.org', subject: 's', text: 't' }),
    );
    expect(await cli('send', '--message', message)).toBe(0);
  });

  it('says what is wrong with a bad command, source, file or address', async () => {
    expect(await cli('events', 'ingest', '--source', 'sendgrid', 'x.json')).toBe(2);
    expect(json().error.message).toBe('--source must be one of ses, acs, oci, dsn, not "sendgrid"');
    expect(await cli('events', 'ingest', '--source', 'ses')).toBe(2);
    expect(json().error.message).toMatch(/needs a FILE/);
    expect(await cli('suppressions', 'add', 'not-an-address')).toBe(2);
    expect(json().error.message).toBe('not an email address: "not-an-address"');
    expect(await cli('suppressions', 'purge')).toBe(2);
    expect(await cli('events', 'stats', '--days', '0')).toBe(2);
    // An SES record on its own is refused over HTTP, but a forged SNS envelope is refused even from a file.
    const forged = file(
      'forged.json',
      JSON.stringify({
        Type: 'Notification',
        MessageId: 'm',
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:mailroute-events',
        Message: JSON.stringify(sesRecord('Permanent', 'victim@example.org')),
        Timestamp: '2026-11-30T10:00:00.000Z',
        SignatureVersion: '1',
        Signature: 'AAAA',
        SigningCertURL: 'https://evil.example/cert.pem',
      }),
    );
    expect(await cli('events', 'ingest', '--source', 'ses', forged)).toBe(1);
    expect(json().error).toMatchObject({ code: 'EVENT_REJECTED' });
    expect(await cli('suppressions', 'list')).toBe(0);
    expect(json().suppressions).toEqual([]);
  });
});

describe('one list for every process in a directory', () => {
  it('what the CLI adds in one process, a send in another refuses', async () => {
    const env = { ...process.env, MAILROUTE_STATE_FILE: join(dir, 'shared.json'), MAILROUTE_OUTBOX: join(dir, 'ob') };
    await run(process.execPath, [bin, 'suppressions', 'add', 'shared@example.org'], { env });
    const message = file(
      'm.json',
      JSON.stringify({ from: 'a@example.com', to: 'shared@example.org', subject: 's', text: 't' }),
    );
    const failed = await run(process.execPath, [bin, 'send', '--message', message], { env }).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout).error.code).toBe('SUPPRESSED');
  });
});

const SAMPLES = new URL('../../../shared/fixtures/events/', import.meta.url);
const sampleFiles = existsSync(SAMPLES) ? readdirSync(SAMPLES) : [];
const sourceOf = (file: string) =>
  file.startsWith('ses-') ? 'ses' : file.startsWith('dsn-') ? 'dsn' : file.includes('eventgrid') ? 'acs' : undefined;

describe.skipIf(!existsSync(SAMPLES))(
  `the official samples through the CLI (skipped when ${SAMPLES.pathname} is absent)`,
  () => {
    // The .http files are whole SNS HTTP requests whose signatures the publisher truncated: they cannot verify.
    // The validation response is what the endpoint answers, not an event.
    const events = sampleFiles.filter((f) => sourceOf(f) && !f.endsWith('.http') && !f.endsWith('-response.json'));
    it.each(events)('%s', async (file) => {
      const code = await cli('events', 'ingest', '--source', sourceOf(file)!, new URL(file, SAMPLES).pathname);
      expect(code).toBe(0);
      const events = lines.map((l) => JSON.parse(l));
      if (file.startsWith('eventgrid-subscription-validation')) expect(events).toEqual([]);
      else expect(events.length).toBeGreaterThan(0);
      for (const event of events) expect(event.type).toMatch(/^[a-z]+$/);
    });
  },
);
