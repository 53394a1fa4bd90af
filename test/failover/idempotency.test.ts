import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SendResult } from '../../core/contract/adapter.ts';
import {
  AmbiguousDeliveryError,
  IdempotencyConflictError,
  type MailrouteError,
  SendInProgressError,
} from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  memoryBackend,
  ociSmtp,
  rejectionOf,
  resetServer,
  type StoreBackend,
  startAzureTableBackend,
  startDynamoBackend,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// The same queue message delivered three times, in sequence and at once, to two "function instances" (two
// Mailers with their own adapters and breakers) sharing ONE store → exactly one copy reaches a server.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
const mailers = new Mailers();
const BACKENDS = ['in-process store', 'DynamoDB on dynalite', 'Azure Table on Azurite'] as const;
const started = new Map<string, Promise<StoreBackend>>();

beforeAll(async () => {
  // Every backend starts at once (Azurite alone takes about a second).
  started.set('in-process store', Promise.resolve(memoryBackend()));
  started.set('DynamoDB on dynalite', startDynamoBackend());
  started.set('Azure Table on Azurite', startAzureTableBackend());
  for (const backend of started.values()) backend.catch(() => {});
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
});
afterAll(async () => {
  await Promise.all([primary.close(), secondary.close()]);
  await Promise.all([...started.values()].map((b) => b.then((backend) => backend.stop()).catch(() => {})));
});

describe.each(BACKENDS)('%s, shared by two instances', (backendName) => {
  /** Two instances of the same function: same configuration, one store, nothing else shared. */
  async function twoInstances(): Promise<[Mailer, Mailer]> {
    const store = await (await started.get(backendName)!).fresh();
    const config = failoverConfig([ociSmtp('primary', primary), ociSmtp('secondary', secondary)]);
    return [mailers.create(config, { store }), mailers.create(config, { store })];
  }
  const soon = () => Date.now() + 10_000;
  const everywhere = (subject: string) => copies(primary, subject) + copies(secondary, subject);

  it('in sequence (key from the queue message id): one copy; the redeliveries return the first result', async () => {
    const [a, b] = await twoInstances();
    const message = mail('sequential');
    const options = () => ({ idempotencyKey: 'queue-message-1', deadline: soon() });
    const first = await a.send(message, options());
    const second = await b.send(message, options());
    const third = await a.send(message, options());
    expect(first.duplicate).toBeUndefined();
    expect(steps(first.attempts)).toEqual([['primary', 'sent', undefined]]);
    expect(second).toEqual({ ...first, duplicate: true });
    expect(third).toEqual({ ...first, duplicate: true });
    expect(everywhere('sequential')).toBe(1);
  });

  it("in sequence (key in the message): one copy, and the redelivery's Message-ID is the first one's", async () => {
    const [a, b] = await twoInstances();
    const message = { ...mail('keyed-message'), idempotencyKey: 'order-42-confirmation' };
    const results = [await b.send(message), await a.send(message), await b.send(message)];
    expect(results.map((r) => r.duplicate)).toEqual([undefined, true, true]);
    expect(new Set(results.map((r) => r.messageId)).size).toBe(1);
    expect(everywhere('keyed-message')).toBe(1);
  });

  it('concurrently: one copy; the others are told it is in progress (retry later) or get the result', async () => {
    const [a, b] = await twoInstances();
    const message = mail('concurrent');
    const deliver = (mailer: Mailer) => mailer.send(message, { idempotencyKey: 'queue-message-2', deadline: soon() });
    const outcomes = await Promise.allSettled([deliver(a), deliver(b), deliver(a)]);
    const sent = outcomes.filter(
      (o): o is PromiseFulfilledResult<SendResult> => o.status === 'fulfilled' && !o.value.duplicate,
    );
    expect(sent).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(SendInProgressError);
        expect(outcome.reason).toMatchObject({ retryable: true, idempotencyKey: 'queue-message-2' });
      } else if (outcome.value.duplicate) {
        expect(outcome.value.messageId).toBe(sent[0]!.value.messageId);
      }
    }
    expect(everywhere('concurrent')).toBe(1);
    // The queue redelivers the ones told to retry: they get the recorded result, nothing is sent.
    const later = await b.send(message, { idempotencyKey: 'queue-message-2', deadline: soon() });
    expect(later).toEqual({ ...sent[0]!.value, duplicate: true });
    expect(everywhere('concurrent')).toBe(1);
  });

  it('the same key with a different payload is an IdempotencyConflictError, and nothing is sent', async () => {
    const [a, b] = await twoInstances();
    await a.send(mail('original'), { idempotencyKey: 'queue-message-3', deadline: soon() });
    const error = await rejectionOf(b.send(mail('impostor'), { idempotencyKey: 'queue-message-3', deadline: soon() }));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({ retryable: false, idempotencyKey: 'queue-message-3' });
    expect(everywhere('original')).toBe(1);
    expect(everywhere('impostor')).toBe(0);
  });

  it('a drop after the end of DATA is ambiguous: no failover, and a redelivery is not sent again', async () => {
    const [a, b] = await twoInstances();
    const message = mail('maybe-sent');
    const options = () => ({ idempotencyKey: 'queue-message-4', deadline: soon() });
    primary.fault = { stage: 'end-of-data', drop: true };
    const error = (await rejectionOf(a.send(message, options()))) as MailrouteError;
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(error).toMatchObject({ retryable: false, failover: false, provider: 'oci' });
    expect(steps(error.attempts)).toEqual([['primary', 'failed', 'AMBIGUOUS']]);
    expect(primary.dataTransactions).toBe(1);
    expect(secondary.auths).toHaveLength(0);

    // The primary is healthy again, but the message may already be in the recipient's inbox.
    primary.fault = undefined;
    const again = await rejectionOf(b.send(message, options()));
    expect(again).toBeInstanceOf(AmbiguousDeliveryError);
    expect((again as Error).message).toMatch(/queue-message-4.*may have been delivered.*not sending again/);
    expect(primary.dataTransactions).toBe(1);
    expect(everywhere('maybe-sent')).toBe(0);
  });

  it('a route with allowDuplicates fails over after an ambiguous drop, and the redelivery is a duplicate', async () => {
    const [a, b] = await twoInstances();
    const message = mail('dup-acceptable');
    const options = () => ({ idempotencyKey: 'queue-message-5', route: 'dup-ok', deadline: soon() });
    primary.fault = { stage: 'end-of-data', drop: true };
    const result = await a.send(message, options());
    expect(result).toMatchObject({ name: 'secondary', route: 'dup-ok' });
    expect(steps(result.attempts)).toEqual([
      ['primary', 'failed', 'AMBIGUOUS'],
      ['secondary', 'sent', undefined],
    ]);
    expect(copies(secondary, 'dup-acceptable')).toBe(1);

    primary.fault = undefined;
    expect(await b.send(message, options())).toEqual({ ...result, duplicate: true });
    expect(primary.dataTransactions).toBe(1);
    expect(everywhere('dup-acceptable')).toBe(1);
  });
});
