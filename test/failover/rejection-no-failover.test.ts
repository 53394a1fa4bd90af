import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ContentRejectedError, type MailrouteError, RecipientRejectedError } from '../../core/errors.ts';
import {
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  rejectionOf,
  resetServer,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import type { Fault } from '../helpers/smtp-test-server.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// A rejection of the message says nothing about the provider: it is returned as is, never failed over (the
// secondary would refuse it too, or worse, deliver what the primary refused), and the primary stays healthy.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
const mailers = new Mailers();

beforeAll(async () => {
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
});
afterAll(() => Promise.all([primary.close(), secondary.close()]));

const CASES: { what: string; fault: Fault; errorClass: typeof RecipientRejectedError | typeof ContentRejectedError }[] =
  [
    {
      what: 'every recipient refused at RCPT TO (550)',
      fault: { stage: 'rcpt', reply: '550 5.1.1 No such user here' },
      errorClass: RecipientRejectedError,
    },
    {
      what: 'the content refused at the end of DATA (554)',
      fault: { stage: 'end-of-data', reply: '554 5.7.1 Message rejected as spam' },
      errorClass: ContentRejectedError,
    },
  ];

describe.each(CASES)('$what', ({ fault, errorClass }) => {
  it('is returned as is, with no failover, and does not mark the primary down', async () => {
    // The threshold is 2, and four rejections in a row follow: had they counted, the circuit would be open.
    const mailer = mailers.create(
      failoverConfig([ociSmtp('primary', primary), ociSmtp('secondary', secondary)], {
        health: { failureThreshold: 2 },
      }),
    );
    primary.fault = fault;
    for (let i = 0; i < 4; i++) {
      const error = (await rejectionOf(
        mailer.send(mail(`rejected-${i}`, ['nobody@example.net', 'ghost@example.net']), {
          deadline: Date.now() + 10_000,
        }),
      )) as MailrouteError;
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject({ retryable: false, failover: false, provider: 'oci', mode: 'smtp' });
      expect(steps(error.attempts)).toEqual([['primary', 'failed', error.code]]);
      if (error instanceof RecipientRejectedError) {
        expect(error.recipients.map((r) => r.address)).toEqual(['nobody@example.net', 'ghost@example.net']);
      }
    }
    expect(primary.received).toHaveLength(0);
    // The secondary was never even connected to: no AUTH, no transaction.
    expect(secondary.auths).toHaveLength(0);
    expect(secondary.received).toHaveLength(0);
    expect(mailer.health.state('primary')).toBe('closed');
    expect(await mailer.health.availability('primary')).toEqual({ ok: true });

    primary.fault = undefined;
    const result = await mailer.send(mail('good-after-rejections'), { deadline: Date.now() + 10_000 });
    expect(steps(result.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(primary.received).toHaveLength(1);
    expect(secondary.received).toHaveLength(0);
  });
});
