import { GetAccountCommand, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthenticationError, ConfigurationError, ThrottledError } from '../../core/errors.ts';
import { type SesEmulator, startSesEmulator } from '../../emulators/ses/index.ts';
import { SesApiAdapter } from '../../providers/ses/api.ts';

let ses: SesEmulator;
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const client = () => new SESv2Client({ endpoint: ses.url, region: 'eu-west-1', credentials, maxAttempts: 1 });
const adapter = () =>
  new SesApiAdapter(
    {
      name: 'ses-api',
      provider: 'ses',
      mode: 'api',
      region: 'eu-west-1',
      endpoint: ses.url,
      credentials: { accessKeyId: { env: 'MR_TEST_KEY' }, secretAccessKey: { env: 'MR_TEST_SECRET' } },
    },
    { env: { MR_TEST_KEY: credentials.accessKeyId, MR_TEST_SECRET: credentials.secretAccessKey } },
  );

beforeAll(async () => {
  // aws-ses-v2-local answers GetAccount itself from this variable; the emulator's own answer is tested here.
  delete process.env.AWS_SES_ACCOUNT;
  ses = await startSesEmulator();
});
afterAll(() => ses.close());
beforeEach(() => ses.clear());

describe('SES emulator: GetAccount', () => {
  it('answers as SES does, counting the recipients sent to in the last 24 hours', async () => {
    const sdk = client();
    const before = await sdk.send(new GetAccountCommand({}));
    expect(before).toMatchObject({
      SendQuota: { Max24HourSend: 50_000, MaxSendRate: 14, SentLast24Hours: 0 },
      SendingEnabled: true,
      ProductionAccessEnabled: true,
      EnforcementStatus: 'HEALTHY',
      DedicatedIpAutoWarmupEnabled: false,
    });
    await sdk.send(
      new SendEmailCommand({
        FromEmailAddress: 'sender@example.com',
        Destination: { ToAddresses: ['a@example.com', 'b@example.com'], CcAddresses: ['c@example.com'] },
        Content: { Simple: { Subject: { Data: 'Hi' }, Body: { Text: { Data: 'Hello' } } } },
      }),
    );
    const after = await sdk.send(new GetAccountCommand({}));
    expect(after.SendQuota?.SentLast24Hours).toBe(3);
    sdk.destroy();
  });

  it('takes the account to play from its options', async () => {
    const sandbox = await startSesEmulator({
      account: { ProductionAccessEnabled: false, SendQuota: { Max24HourSend: 200, MaxSendRate: 1 } },
    });
    const sdk = new SESv2Client({ endpoint: sandbox.url, region: 'eu-west-1', credentials, maxAttempts: 1 });
    try {
      expect(await sdk.send(new GetAccountCommand({}))).toMatchObject({
        ProductionAccessEnabled: false,
        SendQuota: { Max24HourSend: 200, MaxSendRate: 1 },
      });
    } finally {
      sdk.destroy();
      await sandbox.close();
    }
  });

  it('checks the request as it checks every other operation', async () => {
    const unsigned = await fetch(`${ses.url}/v2/email/account`);
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });
    const bearer = await fetch(`${ses.url}/v2/email/account`, { headers: { authorization: 'Bearer abc' } });
    expect(bearer.status).toBe(403);
    expect(bearer.headers.get('x-amzn-errortype')).toBe('IncompleteSignatureException');
  });

  it('plays armed faults on it, as on SendEmail', async () => {
    ses.faults.add({ status: 429, errorCode: 'TooManyRequestsException', pathIncludes: '/v2/email/account' });
    await expect(client().send(new GetAccountCommand({}))).rejects.toMatchObject({
      name: 'TooManyRequestsException',
    });
  });
});

describe('SES API adapter: verify', () => {
  it('passes on the emulator', async () => {
    const ses = adapter();
    await expect(ses.verify()).resolves.toBeUndefined();
    await ses.close();
  });

  it.each([
    [
      'a refused request (400)',
      { errorCode: 'BadRequestException', message: 'Account details are not available.' },
      ConfigurationError,
      'SES GetAccount failed: Account details are not available.',
      'BadRequestException',
    ],
    [
      'a refused signature (403)',
      {
        status: 403,
        errorCode: 'SignatureDoesNotMatch',
        message: 'The request signature we calculated does not match.',
      },
      AuthenticationError,
      'SES GetAccount failed: The request signature we calculated does not match.',
      'SignatureDoesNotMatch',
    ],
    [
      'throttling (429)',
      { status: 429, errorCode: 'TooManyRequestsException', message: 'Too many requests.' },
      ThrottledError,
      'SES GetAccount failed: Too many requests.',
      'TooManyRequestsException',
    ],
  ] as const)(
    "says %s in SES's own words, without a prefix about a message",
    async (_, fault, errorClass, message, code) => {
      ses.faults.add({ ...fault, pathIncludes: '/v2/email/account' });
      const ses_ = adapter();
      const error = await ses_.verify().then(
        () => undefined,
        (e: unknown) => e,
      );
      await ses_.close();
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject({ message, providerCode: code, provider: 'ses', mode: 'api' });
    },
  );
});
