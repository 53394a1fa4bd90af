import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import {
  captureOutput,
  type GcpWorld,
  gcpConfig,
  type RunningFunction,
  startFunction,
  startGcpWorld,
} from './gcp-world.ts';

// Google Cloud has no provider event feed (Gmail bounces come back as DSNs): the HTTP function serves
// POST /v1/events/{source} through the shared router, a DSN taken with the webhook secret.

const SECRET = 'events-webhook-secret-3b7d';

let world: GcpWorld;
let fn: RunningFunction;
let output: ReturnType<typeof captureOutput>;

/** A DSN as Gmail sends it for an unknown mailbox (RFC 3464 multipart/report, the original headers returned). */
const dsn = (recipient: string) =>
  [
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'To: app@example.com',
    'Subject: Delivery Status Notification (Failure)',
    'Date: Sun, 29 Nov 2026 10:00:09 +0000',
    'Message-ID: <dsn-5f1c2a@mx.google.com>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="00000000000012ab34cd"',
    '',
    '--00000000000012ab34cd',
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    `Your message wasn't delivered to ${recipient} because the address couldn't be found.`,
    '',
    '--00000000000012ab34cd',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    'Arrival-Date: Sun, 29 Nov 2026 10:00:05 +0000',
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    'Remote-MTA: dns; mx.example.net. (203.0.113.9, the server for the domain example.net.)',
    'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
    'Last-Attempt-Date: Sun, 29 Nov 2026 10:00:09 +0000',
    '',
    '--00000000000012ab34cd',
    'Content-Type: text/rfc822-headers',
    '',
    'Message-ID: <7c1e9a40@example.com>',
    'From: app@example.com',
    `To: ${recipient}`,
    'Subject: Hi',
    '',
    '--00000000000012ab34cd--',
    '',
  ].join('\r\n');

const postDsn = (body: string, secret?: string) =>
  fetch(`${fn.url}/v1/events/dsn`, {
    method: 'POST',
    headers: { 'content-type': 'message/rfc822', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body,
  });
const instanceMailer = async (): Promise<Mailer> => (await import('../../functions/gcp/config.ts')).mailer();

beforeAll(async () => {
  world = await startGcpWorld();
  vi.stubEnv('MAILROUTE_EVENTS_SECRET', SECRET);
  const config = gcpConfig(world.relay, world.busy, { events: { webhookSecret: { env: 'MAILROUTE_EVENTS_SECRET' } } });
  vi.stubEnv('MAILROUTE_CONFIG', JSON.stringify(config));
  vi.stubEnv('K_SERVICE', 'mailroute-http');
  vi.stubEnv('FUNCTION_TARGET', 'mailrouteHttp');
});
beforeEach(async () => {
  fn = await startFunction('mailrouteHttp');
  output = captureOutput();
});
afterEach(async () => {
  output.restore();
  await fn.close();
});
afterAll(() => world.stop());

describe('GCP HTTP function: POST /v1/events/dsn', () => {
  it('takes a DSN with the webhook secret: the hard bounce suppresses the recipient', async () => {
    const response = await postDsn(dsn('ann@example.net'), SECRET);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 200,
      body: { ok: true, events: 1, suppressed: 1 },
    });
    expect(await (await instanceMailer()).events.suppressions.get('ann@example.net')).toMatchObject({
      reason: 'bounced',
    });
    expect(output.lines().find((l) => l.message === 'events')).toMatchObject({ trigger: 'http', source: 'dsn' });
    expect(output.text()).not.toContain('ann@example.net');
  });

  it('refuses it without the secret, or with another one: 401, nothing applied', async () => {
    for (const secret of [undefined, 'not-the-secret']) {
      const response = await postDsn(dsn('bob@example.net'), secret);
      expect(response.status).toBe(401);
      expect((await response.json()).error).toMatchObject({ code: 'EVENT_REJECTED' });
    }
    expect(await (await instanceMailer()).events.suppressions.get('bob@example.net')).toBeUndefined();
    expect(output.lines().filter((l) => l.message === 'events refused')).toHaveLength(2);
  });
});
