import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AmbiguousDeliveryError,
  AuthenticationError,
  ConfigurationError,
  ContentRejectedError,
  type MailrouteError,
  ProviderUnavailableError,
  RecipientRejectedError,
  ThrottledError,
  TransientError,
} from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { mailerFor, smtpAt } from '../helpers/mailer.ts';
import { plainMessage } from '../helpers/messages.ts';
import { type FaultStage, startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

type ErrorClass = abstract new (...args: never[]) => MailrouteError;

const PASSWORD = 'pa55-w0rd-that-must-never-leak';
let server: TestSmtpServer;
const mailers: Mailer[] = [];

beforeAll(async () => {
  vi.stubEnv('FAULT_SMTP_USER', 'fault-user');
  vi.stubEnv('FAULT_SMTP_PASS', PASSWORD);
  server = await startTestSmtpServer();
});
afterEach(async () => {
  await Promise.all(mailers.splice(0).map((m) => m.close()));
  server.fault = undefined;
  server.received.length = 0;
  server.auths.length = 0;
  server.dataTransactions = 0;
});
afterAll(async () => {
  await server.close();
  vi.unstubAllEnvs();
});

const credentials = { username: { env: 'FAULT_SMTP_USER' }, password: { env: 'FAULT_SMTP_PASS' } };
const ENTRIES = {
  ses: () => ({ provider: 'ses', mode: 'smtp', region: 'eu-west-1', smtpCredentials: credentials }),
  azure: () => ({
    provider: 'azure',
    mode: 'smtp',
    smtpUsername: 'fault-user',
    entra: { tenantId: 't', clientId: 'c', clientSecret: { env: 'FAULT_SMTP_PASS' } },
  }),
  gmail: () => ({
    provider: 'gmail',
    mode: 'smtp',
    domain: 'example.com',
    smtpAuth: 'password',
    smtpCredentials: credentials,
  }),
  oci: () => ({ provider: 'oci', mode: 'smtp', region: 'eu-frankfurt-1', smtpCredentials: credentials }),
};
type ProviderName = keyof typeof ENTRIES;

/** A fresh mailer (so a fresh connection, which a greeting fault needs) for one provider at the test server. */
function open(provider: ProviderName, target: TestSmtpServer = server, smtp: Record<string, unknown> = {}): Mailer {
  const mailer = mailerFor({ ...ENTRIES[provider](), smtp: smtpAt(target, smtp) });
  mailers.push(mailer);
  return mailer;
}

/**
 * Sends one message through the adapter alone (composed as the core composes it), under a deadline, and returns
 * the error it failed with: the translation is the adapter's, before any router retries or fails over.
 */
async function failure(mailer: Mailer, to = ['ann@example.net'], deadlineMs = 3_000): Promise<MailrouteError> {
  const prepared = await composeMessage(normalizeMessage(plainMessage(to)));
  const error = await (await mailer.adapter()).send(prepared, { deadline: Date.now() + deadlineMs }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!error) throw new Error('the send succeeded');
  return error as MailrouteError;
}

const STAGES: FaultStage[] = ['greeting', 'mail', 'rcpt', 'data', 'end-of-data'];

/** The generic reading of each reply, by stage: greeting, MAIL FROM, RCPT TO (every recipient), DATA, end of DATA. */
const GENERIC: [string, ErrorClass[]][] = [
  ['421 4.3.2 Service shutting down', Array(5).fill(TransientError)],
  ['450 4.2.0 Mailbox busy', Array(5).fill(TransientError)],
  ['451 4.3.0 Local error in processing', Array(5).fill(TransientError)],
  ['452 4.3.1 Insufficient system storage', Array(5).fill(TransientError)],
  ['530 5.7.0 Authentication required', Array(5).fill(AuthenticationError)],
  ['535 5.7.8 Authentication credentials invalid', Array(5).fill(AuthenticationError)],
  ...['550 5.1.1 Mailbox unavailable', '551 5.1.6 User not local', '553 5.1.3 Mailbox name not allowed'].map(
    (reply): [string, ErrorClass[]] => [
      reply,
      [
        ProviderUnavailableError,
        ConfigurationError,
        RecipientRejectedError,
        ContentRejectedError,
        ContentRejectedError,
      ],
    ],
  ),
  [
    '554 5.7.1 Message rejected as spam',
    [ProviderUnavailableError, ConfigurationError, RecipientRejectedError, ContentRejectedError, ContentRejectedError],
  ],
];

const cases = (table: [string, ErrorClass[]][]) =>
  table.flatMap(([reply, classes]) => STAGES.map((stage, i) => ({ reply, stage, expected: classes[i]! })));

describe('reply codes', () => {
  it.each(cases(GENERIC))('$reply at $stage → $expected.name', async ({ reply, stage, expected }) => {
    server.fault = { stage, reply };
    const error = await failure(open('oci'));
    expect(error).toBeInstanceOf(expected);
    expect(error).toMatchObject({ provider: 'oci', mode: 'smtp', providerCode: Number(reply.slice(0, 3)) });
    expect(error.cause).toBeInstanceOf(Error);
    expect(server.received).toEqual([]);
  });

  it.each(['ses', 'azure', 'gmail', 'oci'] as const)('%s reads the generic codes the same way', async (provider) => {
    server.fault = { stage: 'end-of-data', reply: '451 4.3.0 Try again later' };
    expect(await failure(open(provider))).toBeInstanceOf(TransientError);
    server.fault = { stage: 'auth', reply: '535 5.7.8 Authentication credentials invalid' };
    expect(await failure(open(provider))).toBeInstanceOf(AuthenticationError);
    server.fault = { stage: 'end-of-data', reply: '554 5.6.0 Message content rejected' };
    expect(await failure(open(provider))).toBeInstanceOf(ContentRejectedError);
  });

  it.each([
    { reply: '454 Throttling failure: Maximum sending rate exceeded.', retryAfterMs: 1_000 },
    { reply: '454 Throttling failure: Daily message quota exceeded.', retryAfterMs: 3_600_000 },
  ])('SES: $reply → ThrottledError after $retryAfterMs ms, at every stage', async ({ reply, retryAfterMs }) => {
    for (const stage of STAGES) {
      server.fault = { stage, reply };
      const error = await failure(open('ses'));
      expect(error, stage).toBeInstanceOf(ThrottledError);
      expect((error as ThrottledError).retryAfterMs).toBe(retryAfterMs);
    }
  });

  it('SES: an unverified sender is a configuration problem of that region, not of the message', async () => {
    server.fault = { stage: 'end-of-data', reply: '554 Message rejected: Email address is not verified.' };
    expect(await failure(open('ses'))).toBeInstanceOf(ConfigurationError);
  });

  it.each([
    { reply: '450 4.2.1 Peak SMTP relay limit exceeded for customer', expected: ThrottledError, retryAfterMs: 60_000 },
    {
      reply: '550 5.7.1 Daily SMTP relay limit exceeded for customer',
      expected: ThrottledError,
      retryAfterMs: 3_600_000,
    },
    { reply: '550 5.4.5 Daily SMTP relay limit exceeded for user', expected: ThrottledError, retryAfterMs: 3_600_000 },
    { reply: '550 5.7.1 Invalid credentials for relay [203.0.113.9]', expected: AuthenticationError },
  ])('Gmail: $reply → $expected.name, at every stage', async ({ reply, expected, retryAfterMs }) => {
    for (const stage of STAGES) {
      server.fault = { stage, reply };
      const error = await failure(open('gmail'));
      expect(error, stage).toBeInstanceOf(expected);
      if (retryAfterMs) expect((error as ThrottledError).retryAfterMs).toBe(retryAfterMs);
    }
  });

  it('an AUTH failure is an AuthenticationError, and a password the server echoes back is scrubbed', async () => {
    const plainBlob = Buffer.from(`\0fault-user\0${PASSWORD}`).toString('base64');
    server.fault = { stage: 'auth', reply: `535 5.7.8 Bad credentials ${PASSWORD} ${plainBlob}` };
    const error = await failure(open('ses'));
    expect(error).toBeInstanceOf(AuthenticationError);
    const everything = `${error.message} ${JSON.stringify(error.toJSON())} ${(error.cause as Error).message}`;
    expect(everything).toContain('[REDACTED]');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(plainBlob);
  });
});

describe('recipients', () => {
  it('reports a refused recipient apart from the accepted ones, and still sends to those', async () => {
    server.fault = { stage: 'rcpt', recipients: ['bad@example.net'], reply: '550 5.1.1 No such user' };
    const mailer = open('oci');
    const result = await mailer.send(plainMessage(['ann@example.net', 'bad@example.net', 'bob@example.org']));
    expect(result.accepted).toEqual(['ann@example.net', 'bob@example.org']);
    expect(result.rejected).toEqual([
      { address: 'bad@example.net', reason: '550 5.1.1 No such user', providerCode: 550 },
    ]);
    expect(server.received[0]?.envelope.to).toEqual(['ann@example.net', 'bob@example.org']);
  });

  it('fails with every refused recipient when all of them are refused', async () => {
    server.fault = { stage: 'rcpt', reply: '553 5.1.3 Invalid address' };
    const error = await failure(open('oci'), ['x@example.net', 'y@example.net']);
    expect(error).toBeInstanceOf(RecipientRejectedError);
    expect((error as RecipientRejectedError).recipients).toEqual([
      { address: 'x@example.net', reason: '553 5.1.3 Invalid address', providerCode: 553 },
      { address: 'y@example.net', reason: '553 5.1.3 Invalid address', providerCode: 553 },
    ]);
    expect(server.dataTransactions).toBe(0);
  });
});

describe('lost connections and silent servers', () => {
  it('a connection dropped before the greeting is transient', async () => {
    server.fault = { stage: 'greeting', drop: true };
    expect(await failure(open('oci'))).toBeInstanceOf(TransientError);
  });

  it('a connection dropped at DATA, before the message was sent, is transient', async () => {
    server.fault = { stage: 'data', drop: true };
    expect(await failure(open('oci'))).toBeInstanceOf(TransientError);
    expect(server.dataTransactions).toBe(0);
  });

  it('a connection dropped halfway through the message, before its final dot, is transient', async () => {
    server.fault = { stage: 'body', drop: true };
    // Larger than what the socket buffers of both ends hold on loopback.
    const big = { ...plainMessage(), text: randomBytes(6 * 1024 * 1024).toString('base64') };
    const prepared = await composeMessage(normalizeMessage(big));
    const error = await (await open('ses').adapter())
      .send(prepared, { deadline: Date.now() + 5_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
  });

  it('a connection dropped after the end of DATA is ambiguous, and Mailer does not send it again', async () => {
    server.fault = { stage: 'end-of-data', drop: true };
    const mailer = open('oci');
    const error = await mailer.send(plainMessage(), { deadline: Date.now() + 3_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error).toMatchObject({ retryable: false, failover: false, provider: 'oci' });
    // Nothing is left that could send it again: the mailer has finished (close waits for sends under way) and the
    // server has seen every connection close.
    await mailer.close();
    await vi.waitFor(() => expect(server.openConnections()).toBe(0));
    expect(server.dataTransactions).toBe(1);
  });

  it('a server that never greets is bounded by the deadline and transient', async () => {
    server.fault = { stage: 'greeting', silent: true };
    const error = await failure(open('oci'), undefined, 300);
    // Ended by the deadline (nodemailer's own greeting timeout is 10 s, and a ProviderUnavailableError).
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/the deadline passed before/);
  });

  it('a server that never answers the end of DATA is bounded by the deadline and ambiguous', async () => {
    server.fault = { stage: 'end-of-data', silent: true };
    const error = await failure(open('ses'), undefined, 300);
    // Aborted by the deadline (the socket's own idle timeout, the other way it could end, is a minute).
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error.message).toMatch(/gave no final reply \(Message sending aborted\)/);
    expect(server.dataTransactions).toBe(1);
  });

  it('a port nobody listens on is an unavailable provider', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const mailer = mailerFor({ ...ENTRIES.oci(), smtp: { host: '127.0.0.1', port, servername: 'localhost' } });
    mailers.push(mailer);
    expect(await failure(mailer)).toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('TLS', () => {
  it('refuses to authenticate in plaintext when the server offers no STARTTLS', async () => {
    const plain = await startTestSmtpServer({ noStartTls: true });
    try {
      const error = await failure(open('oci', plain));
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect(error.message).toMatch(/STARTTLS/);
      expect(plain.auths).toEqual([]);
      expect(plain.dataTransactions).toBe(0);
      const [report] = await open('oci', plain).verify();
      expect(report?.error).toMatchObject({ name: 'ProviderUnavailableError' });
      expect(plain.auths).toEqual([]);
    } finally {
      await Promise.all(mailers.splice(0).map((m) => m.close()));
      await plain.close();
    }
  });

  it.each([
    { case: 'a certificate nobody said to trust', smtp: { ca: undefined } },
    { case: 'a certificate for another name', smtp: { servername: 'smtp.example.com' } },
  ])('refuses $case, naming smtp.ca', async ({ smtp }) => {
    const error = await failure(open('oci', server, smtp));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues[0]?.path).toBe('smtp.ca');
    expect(server.auths).toEqual([]);
  });
});

describe('verify', () => {
  it('maps a refused AUTH to AuthenticationError for every provider', async () => {
    server.fault = { stage: 'auth', reply: '535 5.7.8 Authentication credentials invalid' };
    for (const provider of Object.keys(ENTRIES) as ProviderName[]) {
      const [report] = await open(provider).verify();
      expect(report, provider).toMatchObject({ ok: false, error: { name: 'AuthenticationError', providerCode: 535 } });
    }
    expect(server.auths).toHaveLength(4);
  });

  it('is bounded by the deadline it is given', async () => {
    server.fault = { stage: 'greeting', silent: true };
    const mailer = open('oci');
    const error = await (await mailer.adapter()).verify({ deadline: Date.now() + 300 }).catch((e: unknown) => e);
    // Ended by the deadline, not by a timeout of its own (the handshake's 15 s or nodemailer's 10 s).
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/deadline/);
  });
});
