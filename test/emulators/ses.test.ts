import { SESv2Client, SendEmailCommand, type SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';

let ses: SesEmulator;
const client = (maxAttempts = 1) =>
  new SESv2Client({
    endpoint: ses.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts,
  });

const simple: SendEmailCommandInput = {
  FromEmailAddress: 'sender@example.com',
  Destination: { ToAddresses: ['to@example.com'], CcAddresses: ['cc@example.com'] },
  Content: { Simple: { Subject: { Data: 'Quarterly report' }, Body: { Text: { Data: 'See attached.' } } } },
};
const mime = [
  'From: sender@example.com',
  'To: raw@example.com',
  'Subject: Raw hello',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Raw body',
  '--b1',
  'Content-Type: text/plain; name="note.txt"',
  'Content-Disposition: attachment; filename="note.txt"',
  '',
  'attached text',
  '--b1--',
  '',
].join('\r\n');

beforeAll(async () => {
  ses = await startSesEmulator();
});
afterAll(() => ses.close());
beforeEach(() => ses.clear());

describe('SES emulator: normal sends reach aws-ses-v2-local', () => {
  it('stores a Simple SendEmail under the MessageId it returns', async () => {
    const { MessageId } = await client().send(new SendEmailCommand(simple));
    const { emails } = await ses.store();
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({
      messageId: MessageId,
      from: 'sender@example.com',
      destination: { to: ['to@example.com'], cc: ['cc@example.com'] },
      subject: 'Quarterly report',
      body: { text: 'See attached.' },
    });
  });

  it('stores a Raw SendEmail with its attachment', async () => {
    const raw = { Content: { Raw: { Data: new TextEncoder().encode(mime) } } };
    const { MessageId } = await client().send(new SendEmailCommand(raw));
    const [email] = (await ses.store()).emails;
    expect(email).toMatchObject({
      messageId: MessageId,
      subject: 'Raw hello',
      destination: { to: ['raw@example.com'] },
    });
    expect(email?.attachments.map((a) => a.filename)).toEqual(['note.txt']);
  });
});

describe('SES emulator: injected errors reach the SDK as named exceptions', () => {
  it.each([
    ['TooManyRequestsException', 429],
    ['LimitExceededException', 400],
    ['AccountSuspendedException', 400],
    ['SendingPausedException', 400],
    ['MessageRejected', 400],
    ['MailFromDomainNotVerifiedException', 400],
    ['NotFoundException', 404],
    ['BadRequestException', 400],
    ['InternalServiceErrorException', 500],
  ])('%s', async (errorCode, status) => {
    ses.faults.add({ errorCode });
    const error = await client()
      .send(new SendEmailCommand(simple))
      .then(
        () => undefined,
        (e: unknown) => e as { name: string; message: string; $fault: string; $metadata: { httpStatusCode: number } },
      );
    expect(error?.name).toBe(errorCode);
    expect(error?.$metadata.httpStatusCode).toBe(status);
    expect(error?.$fault).toBe(status >= 500 ? 'server' : 'client');
    expect(error?.message).not.toBe('');
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('maps a bare status to its default error: 429 throttles, 503 is a server fault', async () => {
    ses.faults.add({ status: 429 });
    await expect(client().send(new SendEmailCommand(simple))).rejects.toMatchObject({
      name: 'TooManyRequestsException',
      message: 'Maximum sending rate exceeded.',
    });
    ses.faults.add({ status: 503 });
    await expect(client().send(new SendEmailCommand(simple))).rejects.toMatchObject({
      name: 'ServiceUnavailable',
      $fault: 'server',
      $metadata: { httpStatusCode: 503 },
    });
  });

  it('arms faults over HTTP and plays them only for the armed count', async () => {
    const armed = await fetch(`${ses.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ errorCode: 'MessageRejected', count: 2 }),
    });
    expect(armed.status).toBe(204);
    for (let i = 0; i < 2; i++) {
      await expect(client().send(new SendEmailCommand(simple))).rejects.toMatchObject({ name: 'MessageRejected' });
    }
    await client().send(new SendEmailCommand(simple));
    expect((await ses.store()).emails).toHaveLength(1);
  });

  it('lets the SDK retry a throttled send by itself', async () => {
    ses.faults.add({ status: 429, count: 1 });
    const result = await client(3).send(new SendEmailCommand(simple));
    expect(result.$metadata.attempts).toBe(2);
    expect((await ses.store()).emails).toHaveLength(1);
  });
});

describe('SES emulator: network faults', () => {
  it('drops the connection and the SDK call fails', async () => {
    ses.faults.add({ drop: true });
    await expect(client().send(new SendEmailCommand(simple))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('hang: takes the request and never answers until the client gives up; nothing is forwarded', async () => {
    ses.faults.add({ hang: true });
    const before = ses.received();
    const gaveUp = await client()
      .send(new SendEmailCommand(simple), { abortSignal: AbortSignal.timeout(300) })
      .then(
        () => 'answered',
        (error: Error) => error.name,
      );
    expect(gaveUp).toBe('AbortError');
    expect(ses.received() - before).toBe(1);
    expect((await ses.store()).emails).toHaveLength(0);
  });

  it('delays the answer by the injected latency, then forwards', async () => {
    ses.faults.add({ latencyMs: 400 });
    // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
    const started = performance.now();
    await client().send(new SendEmailCommand(simple));
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect((await ses.store()).emails).toHaveLength(1);
  });

  it('faults only the paths a fault names, and never the store', async () => {
    ses.faults.add({ status: 500, fraction: 1, pathIncludes: '/v2/email/templates' });
    await client().send(new SendEmailCommand(simple));
    expect((await ses.store()).emails).toHaveLength(1);
    ses.faults.add({ status: 500, fraction: 1 });
    expect((await ses.store()).emails).toHaveLength(1);
    await expect(client().send(new SendEmailCommand(simple))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
  });
});
