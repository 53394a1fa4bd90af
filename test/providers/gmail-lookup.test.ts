import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MailrouteConfig, validateConfig } from '../../core/config/config.ts';
import type { Adapter, AttemptRecord, SendContext } from '../../core/contract/adapter.ts';
import { AmbiguousDeliveryError, ConfigurationError, ThrottledError, TransientError } from '../../core/errors.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import {
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  type GmailEmulator,
  startGmailEmulator,
} from '../../emulators/gmail/index.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const MINUTE = 60_000;
const key = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

let emulator: GmailEmulator;
let config: MailrouteConfig;

const message = (overrides: Record<string, unknown> = {}) => ({
  from: 'Sender <sender@example.com>',
  to: 'to@example.net',
  subject: 'hello',
  text: 'plain body',
  ...overrides,
});
const prepare = (overrides: Record<string, unknown> = {}) => composeMessage(normalizeMessage(message(overrides)));
/** A fresh adapter per test: no token cached from another test's delegation. */
const adapter = (name: string) => createAdapter(config.providers.find((p) => p.name === name)!, config);
const attemptAt = (startedAt: number): AttemptRecord => ({
  name: 'gmail',
  provider: 'gmail',
  mode: 'api',
  startedAt,
  firstSentAt: startedAt,
});
const settle = async (
  entry: Adapter,
  prepared: Awaited<ReturnType<typeof prepare>>,
  startedAt: number,
  context: SendContext = {},
) => {
  expect(entry.settle).toBeTypeOf('function');
  return entry.settle!(prepared, attemptAt(startedAt), context);
};
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
  process.env.MR_TEST_GMAIL_LOOKUP_KEY = key.privateKey;
  const entry = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    provider: 'gmail',
    mode: 'api',
    endpoint: emulator.url,
    serviceAccount: {
      clientEmail: SERVICE_ACCOUNT,
      privateKey: { env: 'MR_TEST_GMAIL_LOOKUP_KEY' },
      tokenUrl: emulator.tokenUrl,
    },
    user: SENDER,
    lookup: true,
    ...extra,
  });
  config = validateConfig({
    providers: [
      entry('gmail'),
      entry('plain', { lookup: undefined }),
      // Nothing listens on the discard port: the token endpoint answers, the API is unreachable.
      entry('closed', { endpoint: 'http://127.0.0.1:9/' }),
    ],
  });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  emulator.setDelegatedScopes([GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE]);
});
afterEach(() => emulator.setDelegatedScopes([GMAIL_SEND_SCOPE]));

describe('Gmail API settle(): the Message-ID looked up in the sender mailbox', () => {
  it('has no settle() without lookup, so the core declares such sends ambiguous', async () => {
    expect((await adapter('plain')).settle).toBeUndefined();
    expect((await adapter('gmail')).settle).toBeTypeOf('function');
  });

  it('an upload dropped after Gmail stored it: the send is ambiguous, settle() finds it delivered', async () => {
    const gmail = await adapter('gmail');
    const prepared = await prepare({
      to: ['a@example.net', 'b@example.org'],
      cc: 'c@example.com',
      bcc: 'd@example.com',
      idempotencyKey: 'order-7',
    });
    emulator.faults.add({ dropAfter: true, pathIncludes: '/messages/send' });
    const startedAt = Date.now();
    const error = await failure(gmail.send(prepared, {}));
    expect(error).toBeInstanceOf(AmbiguousDeliveryError);
    expect(emulator.store).toHaveLength(1);
    const [stored] = emulator.store;

    const settlement = await settle(gmail, prepared, startedAt);
    expect(settlement).toEqual({
      status: 'delivered',
      sent: {
        providerMessageId: stored!.id,
        accepted: ['a@example.net', 'b@example.org', 'c@example.com', 'd@example.com'],
        rejected: [],
        details: { threadId: stored!.threadId },
      },
    });
    // Looking up sent nothing.
    expect(emulator.store).toHaveLength(1);
  });

  it('nothing found and nothing sent since the attempt → not-delivered (so sending it cannot duplicate it)', async () => {
    const gmail = await adapter('gmail');
    const earlier = await prepare({ subject: 'long ago' });
    await gmail.send(earlier, {});
    // Sent well before the attempt's window: it does not count.
    emulator.store[0]!.receivedAt = new Date(Date.now() - 120 * MINUTE);
    const settlement = await settle(gmail, await prepare(), Date.now() - 30 * MINUTE);
    expect(settlement).toMatchObject({ status: 'not-delivered', reason: expect.stringContaining(SENDER) });
  });

  it('nothing found but other mail sent since the attempt → unknown: Gmail may have replaced the Message-ID', async () => {
    const gmail = await adapter('gmail');
    await gmail.send(await prepare({ subject: 'another message' }), {});
    const settlement = await settle(gmail, await prepare({ subject: 'this one' }), Date.now() - 30 * MINUTE);
    expect(settlement).toMatchObject({ status: 'unknown', reason: expect.stringContaining('replace') });
  });

  it('nothing found for an attempt cut a moment ago → in-progress (Gmail may not have finished or indexed it)', async () => {
    const settlement = await settle(await adapter('gmail'), await prepare(), Date.now());
    expect(settlement.status).toBe('in-progress');
  });

  it('gmail.readonly not delegated → unknown naming the scope; sending does not need it', async () => {
    emulator.setDelegatedScopes([GMAIL_SEND_SCOPE]);
    const gmail = await adapter('gmail');
    const prepared = await prepare();
    const settlement = await settle(gmail, prepared, Date.now() - 30 * MINUTE);
    expect(settlement).toMatchObject({ status: 'unknown', reason: expect.stringContaining(GMAIL_READONLY_SCOPE) });
    expect(settlement.status === 'unknown' && settlement.reason).toContain('unauthorized_client');
    const sent = await gmail.send(prepared, {});
    expect(sent.providerMessageId).toBe(emulator.store[0]?.id);
  });

  it('403 from the list itself → unknown naming the scope', async () => {
    emulator.faults.add({ status: 403, pathIncludes: '/users/me/messages' });
    const settlement = await settle(await adapter('gmail'), await prepare(), Date.now() - 30 * MINUTE);
    expect(settlement).toMatchObject({ status: 'unknown', reason: expect.stringContaining(GMAIL_READONLY_SCOPE) });
  });

  it('unreachable, failing or throttled → the retryable error, to ask again later', async () => {
    const prepared = await prepare();
    const startedAt = Date.now() - 30 * MINUTE;
    expect(await failure(settle(await adapter('closed'), prepared, startedAt))).toBeInstanceOf(TransientError);
    const gmail = await adapter('gmail');
    emulator.faults.add({ status: 503, pathIncludes: '/users/me/messages' });
    expect(await failure(settle(gmail, prepared, startedAt))).toBeInstanceOf(TransientError);
    emulator.faults.add({ status: 429, retryAfter: 3, pathIncludes: '/users/me/messages' });
    const throttled = await failure(settle(gmail, prepared, startedAt));
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ retryAfterMs: 3000 });
  });

  it('the deadline bounds the lookup', async () => {
    const gmail = await adapter('gmail');
    emulator.faults.add({ latencyMs: 2000, pathIncludes: '/users/me/messages' });
    const started = Date.now();
    // The deadline ended the lookup: Gmail would have answered after 2 s (and the lookup found nothing).
    const error = await failure(settle(gmail, await prepare(), started, { deadline: started + 300 }));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('deadline');
  });
});

describe('the lookup setting', () => {
  const gmail = (extra: Record<string, unknown>) => ({
    providers: [{ provider: 'gmail', mode: 'smtp', domain: 'example.com', ...extra }],
  });

  const issues = (data: unknown) => {
    try {
      validateConfig(data, 'test', builtInProviders);
      return [];
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigurationError);
      return (error as ConfigurationError).issues;
    }
  };

  it('is only valid in api mode, and must be a boolean', () => {
    expect(issues(gmail({ lookup: true }))).toEqual([
      { path: 'providers[0].lookup', message: 'is only valid in api mode' },
    ]);
    expect(issues(gmail({ lookup: false }))).toEqual([]);
    expect(issues(gmail({ lookup: 'yes' })).map((issue) => issue.path)).toEqual(['providers[0].lookup']);
  });
});
