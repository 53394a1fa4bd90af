import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { validateConfig } from '../../core/config/config.ts';
import { ALL_CAPABILITIES } from '../../core/contract/adapter.ts';
import { defineProvider } from '../../core/contract/provider-descriptor.ts';
import { ProviderRegistry } from '../../core/contract/provider-registry.ts';
import { InvalidMessageError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_JSON_VALUES } from '../../core/message/json-bounds.ts';
import { validateMessage } from '../../core/message/validate.ts';
import { routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { processBatch, type QueueRecord, type RecordOutcome } from '../../core/runtime/queue-batch.ts';
import { payloadHash } from '../../core/state/idempotency.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// A message that can never succeed must never be retried: `providerOptions.gmail` nested 100,000 deep overflowed
// the stack in the idempotency hash (HTTP 500; on a queue, "Maximum call stack size exceeded" on every delivery
// until the platform gave up, its FIFO group blocked meanwhile). Now the bounds of core/message/json-bounds.ts
// refuse it, naming the field and the limit, and whatever else throws while a message is prepared is an invalid
// message, dead-lettered at once.

const base = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };
const outbox = mkdtempSync(join(tmpdir(), 'mr-poison-unit-'));
const config = validateConfig(
  { providers: [{ name: 'capture', provider: 'local', mode: 'api' }], outboxDir: outbox },
  'test',
  builtInProviders,
);
// With the registry (every function, serve, the CLI), and without (a mailer built by hand: no option is known).
const mailers = {
  registry: new Mailer(config, createAdapter, { providers: builtInProviders }),
  bare: new Mailer(config, createAdapter),
};
afterAll(() => Promise.all(Object.values(mailers).map((m) => m.close())));
afterEach(() => vi.restoreAllMocks());

/** `{"a":{"a":...{}}}`, `depth` objects deep, as JSON text (a JS literal this deep could not be written). */
const nestedText = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
const deepGmail = (extra = '') =>
  `{"from":"app@example.com","to":"user@example.com","subject":"Hi","text":"Hello"${extra},"providerOptions":{"gmail":${nestedText(100_000)}}}`;
const tooDeep = {
  path: 'providerOptions.gmail',
  message: `is nested deeper than the limit of ${MAX_JSON_DEPTH} levels`,
};
const sent = () => readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;

const post = (mailer: Mailer, body: string) =>
  routeHttpRequest(mailer, {
    method: 'POST',
    path: '/v1/send',
    body,
    headers: { 'content-type': 'application/json', host: '127.0.0.1' },
  });

let sequence = 0;
async function throughQueue(mailer: Mailer, body: string) {
  const record: QueueRecord = { id: `poison-unit-${++sequence}`, body, receiveCount: 1 };
  const deadLetters: { id: string; reason: string }[] = [];
  const [outcome] = await processBatch([record], {
    mailer,
    deadLetter: async (r, reason) => void deadLetters.push({ id: r.id, reason }),
  });
  return { record, outcome: outcome as RecordOutcome, deadLetters };
}

describe('providerOptions.gmail nested 100,000 deep', () => {
  for (const [kind, mailer] of Object.entries(mailers)) {
    it(`is answered 400 INVALID_MESSAGE naming the path and the limit (${kind} mailer, with and without a key)`, async () => {
      const before = sent();
      for (const body of [deepGmail(), deepGmail(',"idempotencyKey":"deep-1"')]) {
        const answer = await post(mailer, body);
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({
          ok: false,
          error: {
            code: 'INVALID_MESSAGE',
            message: `Invalid message: providerOptions.gmail: is nested deeper than the limit of ${MAX_JSON_DEPTH} levels`,
            issues: [tooDeep],
          },
        });
      }
      expect(sent()).toBe(before);
    });

    it(`is dead-lettered at once on a queue, with INVALID_MESSAGE and its reason (${kind} mailer)`, async () => {
      const before = sent();
      const { record, outcome, deadLetters } = await throughQueue(mailer, deepGmail());
      expect(outcome).toMatchObject({
        id: record.id,
        status: 'dead-letter',
        errorCode: 'INVALID_MESSAGE',
        error: { code: 'INVALID_MESSAGE', retryable: false, issues: [tooDeep] },
      });
      expect(deadLetters).toEqual([{ id: record.id, reason: expect.stringContaining('providerOptions.gmail') }]);
      expect(sent()).toBe(before);
    });
  }

  it('is refused by validateMessage (the enqueue check) with the same issue, with or without the registry', () => {
    const input = JSON.parse(deepGmail());
    expect(validateMessage(input)).toEqual({ ok: false, issues: [tooDeep] });
    expect(validateMessage(input, builtInProviders)).toEqual({ ok: false, issues: [tooDeep] });
  });
});

describe('the bounds of a message', () => {
  it('sends what nests up to the limit, under a mailer that takes any option (the hash walks it without recursion)', async () => {
    // The message is level 1, providerOptions 2, the provider's options 3: 61 more levels of options.
    const body = `{"from":"app@example.com","to":"user@example.com","subject":"Hi","text":"Hello","idempotencyKey":"at-limit","providerOptions":{"custom":${nestedText(MAX_JSON_DEPTH - 2)}}}`;
    const { outcome } = await throughQueue(mailers.bare, body);
    expect(outcome.status).toBe('sent');
    const over = body.replace(nestedText(MAX_JSON_DEPTH - 2), nestedText(MAX_JSON_DEPTH - 1));
    expect((await throughQueue(mailers.bare, over)).outcome).toMatchObject({
      status: 'dead-letter',
      error: { issues: [{ path: 'providerOptions.custom', message: tooDeep.message }] },
    });
  });

  it('refuses a list of two million entries naming the field that went over and the limit', async () => {
    const body = JSON.stringify({ ...base, to: Array(2_000_000).fill(0) });
    const { outcome } = await throughQueue(mailers.registry, body);
    expect(outcome).toMatchObject({
      status: 'dead-letter',
      errorCode: 'INVALID_MESSAGE',
      error: {
        issues: [
          {
            path: 'to',
            message: `brings the message over the limit of ${MAX_JSON_VALUES} JSON values (fields, list entries and what they hold)`,
          },
        ],
      },
    });
  });

  it('refuses a message whose text is over the largest message any provider takes', () => {
    const result = validateMessage({ ...base, html: 'x'.repeat(MAX_JSON_CHARS) }, builtInProviders);
    expect(result).toEqual({
      ok: false,
      issues: [{ path: 'html', message: `brings the message over the limit of ${MAX_JSON_CHARS} characters` }],
    });
  });

  it('keeps every __proto__ key a field: refused by name, the prototype untouched', async () => {
    const body = `{"from":"app@example.com","to":"user@example.com","subject":"Hi","text":"Hello","providerOptions":{"gmail":{"__proto__":{"polluted":true}}},"__proto__":{"polluted":true}}`;
    const answer = await post(mailers.registry, body);
    expect(answer.status).toBe(400);
    expect((answer.body as { error: InvalidMessageError }).error.issues).toEqual([
      { path: 'providerOptions.gmail.__proto__', message: 'gmail does not support the option "__proto__"' },
      { path: '', message: 'has unknown field "__proto__"' },
    ]);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});

describe('the payload hash', () => {
  it('is an InvalidMessageError naming the field and the limit for what is over the bounds, never a stack overflow', () => {
    const hashOf = (value: unknown) => {
      try {
        return payloadHash(value);
      } catch (error) {
        return error;
      }
    };
    const deep = JSON.parse(`{"providerOptions":{"gmail":${nestedText(100_000)}}}`);
    expect(hashOf(deep)).toBeInstanceOf(InvalidMessageError);
    expect((hashOf(deep) as InvalidMessageError).issues).toEqual([tooDeep]);
    const deepList = JSON.parse(`{"metadata":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect((hashOf(deepList) as InvalidMessageError).issues).toEqual([
      { path: 'metadata[0]', message: tooDeep.message },
    ]);
    const cycle: Record<string, unknown> = { subject: 'loop' };
    cycle.self = cycle;
    expect((hashOf(cycle) as InvalidMessageError).issues).toEqual([{ path: 'self.self', message: tooDeep.message }]);
    expect((hashOf({ metadata: { n: 10n } }) as InvalidMessageError).issues).toEqual([
      { path: 'metadata.n', message: 'is a BigInt, which JSON has no form for' },
    ]);
  });

  it('is the hash records were written with: canonical JSON, keys sorted, undefined fields left out', () => {
    // sha256 of `{"a":[1,"x",null,true,{}],"b":{"c":"\ud800"}}`, as the recursive implementation computed it.
    const value = { b: { c: '\ud800', d: undefined }, a: [1, 'x', null, true, {}] };
    expect(payloadHash(value)).toBe('0deae2fd26506efd365c896d856d5f2934152b206feba4c2c54a7dd0ff1fe935');
  });
});

describe('what throws while a message is prepared', () => {
  it('is an invalid message, dead-lettered at once: an option schema that throws', async () => {
    // A provider registered from outside whose option check throws (a bug such a message would meet every time).
    const fragile = defineProvider({
      id: 'fragile',
      fields: {},
      options: z
        .object({
          x: z.string().refine(() => {
            throw new TypeError('the check broke');
          }),
        })
        .strict(),
      modes: {
        api: {
          capabilities: ALL_CAPABILITIES,
          limits: { maxEncodedBytes: 1024, maxRecipients: 1 },
          create: () => Promise.reject(new Error('never built')),
        },
      },
    });
    const providers = new ProviderRegistry([...builtInProviders.descriptors, fragile]);
    const mailer = new Mailer(config, providers.createAdapter, { providers });
    try {
      const body = JSON.stringify({ ...base, providerOptions: { fragile: { x: 'y' } } });
      const { outcome, deadLetters } = await throughQueue(mailer, body);
      expect(outcome).toMatchObject({
        status: 'dead-letter',
        errorCode: 'INVALID_MESSAGE',
        error: { issues: [{ path: '', message: 'could not be validated: the check broke' }] },
      });
      expect(deadLetters).toHaveLength(1);
      const answer = await post(mailer, body);
      expect(answer.status).toBe(400);
    } finally {
      await mailer.close();
    }
  });

  it('is an invalid message, not a provider outage retried for ever: a composition that throws', async () => {
    vi.spyOn(MailComposer.prototype, 'compile').mockImplementation(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    // Mailers of their own: the adapter reports the failure as its own, and the shared health tracker would count it.
    const fresh = () => new Mailer(config, createAdapter, { providers: builtInProviders });
    const [queued, answering] = [fresh(), fresh()];
    try {
      const before = sent();
      const { outcome, deadLetters } = await throughQueue(queued, JSON.stringify(base));
      expect(outcome).toMatchObject({
        status: 'dead-letter',
        errorCode: 'INVALID_MESSAGE',
        error: { issues: [{ path: '', message: 'could not be composed: Maximum call stack size exceeded' }] },
      });
      expect(deadLetters).toHaveLength(1);
      expect(sent()).toBe(before);
      const answer = await post(answering, JSON.stringify({ ...base, idempotencyKey: 'compose-1' }));
      expect(answer).toMatchObject({ status: 400, body: { error: { code: 'INVALID_MESSAGE' } } });
    } finally {
      await Promise.all([queued.close(), answering.close()]);
    }
  });
});
