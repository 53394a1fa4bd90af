import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import type { Attempt, MailrouteError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sesSmtp = (port: number) => ({
  name: 'ses-smtp',
  provider: 'ses',
  mode: 'smtp',
  region: 'us-east-1',
  smtp: { host: '127.0.0.1', port, secure: false },
  smtpCredentials: { username: { env: 'MR_TEST_SES_SMTP_USER' }, password: { env: 'MR_TEST_SES_SMTP_PASS' } },
});

let mailer: Mailer | undefined;
afterEach(async () => {
  await mailer?.close();
  mailer = undefined;
  delete process.env.MR_TEST_SES_SMTP_USER;
  delete process.env.MR_TEST_SES_SMTP_PASS;
});

async function failedAttempts(entry: Record<string, unknown>): Promise<{ error: MailrouteError; attempts: Attempt[] }> {
  const providers = builtInProviders;
  mailer = new Mailer(validateConfig({ providers: [entry] }, 'test', providers), createAdapter, { providers });
  const error = await mailer
    .send({ from: 'sender@example.com', to: 'b@example.com', subject: 'Hi', text: 'Hello' })
    .then(
      () => undefined,
      (e: MailrouteError) => e,
    );
  expect(error, 'the send must fail').toBeDefined();
  return { error: error!, attempts: error!.attempts ?? [] };
}

describe('attempt labels', () => {
  it('labels a failed attempt of an SES SMTP entry (closed port) with provider ses and mode smtp', async () => {
    process.env.MR_TEST_SES_SMTP_USER = 'user';
    process.env.MR_TEST_SES_SMTP_PASS = 'pass';
    const { attempts } = await failedAttempts(sesSmtp(await closedPort()));
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ name: 'ses-smtp', provider: 'ses', mode: 'smtp', outcome: 'failed' });
    expect(attempts[0]!.error).toMatchObject({ provider: 'ses', mode: 'smtp' });
  });

  it('labels it with the entry even when the adapter could not be built (a secret not set)', async () => {
    const { error, attempts } = await failedAttempts(sesSmtp(await closedPort()));
    expect(error).toMatchObject({ code: 'CONFIGURATION', provider: 'ses', mode: 'smtp' });
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ name: 'ses-smtp', provider: 'ses', mode: 'smtp', outcome: 'failed' });
    expect(attempts[0]!.error).toMatchObject({ code: 'CONFIGURATION', provider: 'ses', mode: 'smtp' });
    expect(String(attempts[0]!.error?.message)).toMatch(/MR_TEST_SES_SMTP_USER/);
  });
});
