import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { isMailrouteError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { processBatch, type QueueRecord } from '../../core/runtime/queue-batch.ts';
import { payloadHash } from '../../core/state/idempotency.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// Hostile JSON, as a queue body or an HTTP body: whatever it holds, a message ends sent, dead-lettered with a typed
// code, or (only for an error that says so) retried; never a raw error, never an anonymous 500, never a record
// retried for ever because preparing it throws the same way each time.

/** JSON text, written by hand so that it can hold what a JS literal cannot: `__proto__` keys, 1e309, -0, 40 digits. */
const numberText = fc.oneof(
  fc.constantFrom('0', '-0', '1e309', '-1e309', '1e-400', '123456789012345678901234567890', '9007199254740993', '0.1'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
);
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const nasty = fc.constantFrom(
  '\u0000',
  '\r\n',
  '\u2028',
  '"',
  '\\',
  '@',
  '<',
  '>',
  ',',
  ';',
  ':',
  'ü',
  '日本',
  '\ufeff',
);
const rawString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), loneSurrogate, nasty), { maxLength: 8 }).map((p) => p.join('')),
  fc.constantFrom('a@example.com', 'Name <b@example.com>', '__proto__', 'constructor', 'toString', 'hasOwnProperty'),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const stringText = rawString.map((s) => JSON.stringify(s));
const keyText = fc
  .oneof(
    rawString,
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toJSON', 'valueOf', 'length', 'from', 'to', 'gmail', ''),
  )
  .map((s) => JSON.stringify(s));

/** Nested n deep: arrays, objects, or both alternating. */
const deepText = fc
  .tuple(
    fc.integer({ min: 60, max: 3_000 }),
    fc.constantFrom('array', 'object', 'mixed'),
    fc.constantFrom('a', '__proto__', 'constructor', '').map((k) => JSON.stringify(k)),
  )
  .map(([n, shape, key]) => {
    let open = '';
    let close = '';
    for (let i = 0; i < n; i++) {
      const array = shape === 'array' || (shape === 'mixed' && i % 2 === 0);
      open += array ? '[' : `{${key}:`;
      close = (array ? ']' : '}') + close;
    }
    return `${open}${open.endsWith(':') ? 'null' : ''}${close}`;
  });
const hugeArrayText = fc
  .tuple(fc.integer({ min: 1_000, max: 120_000 }), fc.constantFrom('0', '""', '{}', '[]', '"a@example.com"'))
  .map(([n, item]) => `[${Array(n).fill(item).join(',')}]`);

const { value: jsonText } = fc.letrec<{ value: string; leaf: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(numberText, stringText, fc.constantFrom('true', 'false', 'null')),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
  object: fc
    .array(fc.tuple(keyText, tie('value')), { maxLength: 4 })
    .map((entries) => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`),
}));
/** JSON text, shown shortened when a property fails (a deep one runs to megabytes). */
const hostile = fc
  .oneof(
    { weight: 4, arbitrary: jsonText },
    // A string alone, where the message takes one: valid more often than not, so that odd text is composed and sent.
    { weight: 3, arbitrary: stringText },
    { weight: 2, arbitrary: deepText },
    { weight: 1, arbitrary: hugeArrayText },
  )
  .map(shown);

function shown(text: string) {
  return { text, [fc.toStringMethod]: () => `${JSON.stringify(text.slice(0, 150))}… (${text.length} characters)` };
}

/** Where in a valid message the hostile value goes (or the whole body). */
const slots = [
  'providerOptions.gmail',
  'providerOptions.oci',
  'providerOptions.local',
  'providerOptions.ses',
  'providerOptions.gmail.x',
  'providerOptions.ses.listManagement',
  'providerOptions.__proto__',
  'metadata',
  'metadata.k',
  'headers',
  'headers.X-Data',
  'tags',
  'attachments',
  'attachments[0].content',
  'attachments[0].filename',
  'attachments[0].contentType',
  'attachments[0].contentId',
  'from.name',
  'tags[0].value',
  'to',
  'cc',
  'from',
  'subject',
  'text',
  'html',
  'unsubscribe',
  'idempotencyKey',
  'route',
  'suppression',
  '__proto__',
  'extra',
  '(body)',
] as const;

/** The issue's case, tried first by every property: `providerOptions.gmail` nested 100,000 deep, with a key. */
const issueCase: [(typeof slots)[number], ReturnType<typeof shown>, string] = [
  'providerOptions.gmail',
  shown(`${'{"a":'.repeat(99_999)}{}${'}'.repeat(99_999)}`),
  'deep',
];

const baseFields = [
  '"from":"app@example.com"',
  '"to":"user@example.com"',
  '"subject":"Hello"',
  '"text":"Hi"',
  '"attachments":[{"filename":"a.txt","content":"aGk="}]',
];

/** The body text: the base message with the hostile JSON at `slot`, replacing what the base had there. */
function bodyWith(slot: (typeof slots)[number], value: string, key: string | undefined): string {
  if (slot === '(body)') return value;
  const fields = [...baseFields, ...(key === undefined ? [] : [`"idempotencyKey":${JSON.stringify(key)}`])];
  const [top, ...rest] = slot.split('.');
  const [name, index] = top!.split(/\[|\]/);
  let inner = value;
  // A repeated key: JSON.parse keeps the last, the hostile value.
  if (name === 'attachments' && index !== undefined)
    inner = `[{"filename":"a.txt","content":"aGk=","${rest[0]}":${value}}]`;
  else if (name === 'tags') inner = `[{"name":"t","value":${value}}]`;
  else if (name === 'from' && rest[0] === 'name') inner = `{"address":"app@example.com","name":${value}}`;
  else for (const part of [...rest].reverse()) inner = `{${JSON.stringify(part)}:${inner}}`;
  const kept = fields.filter((f) => !f.startsWith(`"${name}":`));
  return `{${[...kept, `${JSON.stringify(name)}:${inner}`].join(',')}}`;
}

process.env.MR_POISON_UNSUB_KEY = 'poison-unsubscribe-signing-key-0123456789abcdef';
const outbox = mkdtempSync(join(tmpdir(), 'mr-poison-'));
const config = validateConfig(
  {
    providers: [{ name: 'capture', provider: 'local', mode: 'api' }],
    outboxDir: outbox,
    unsubscribe: { baseUrl: 'https://mail.example.com/', secret: { env: 'MR_POISON_UNSUB_KEY' } },
  },
  'test',
  builtInProviders,
);
// With the registry (every function, serve, the CLI), and without it (a mailer built by hand, as tests do).
const mailers = {
  registry: new Mailer(config, createAdapter, { providers: builtInProviders }),
  bare: new Mailer(config, createAdapter),
};
afterAll(() => Promise.all(Object.values(mailers).map((m) => m.close())));

let sequence = 0;

describe('property: no message is a poison message', () => {
  for (const [kind, mailer] of Object.entries(mailers)) {
    it(`a queue record ends sent, dead-lettered with a typed code, or retried only when retryable (${kind} mailer)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...slots),
          hostile,
          fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }),
          async (slot, value, key) => {
            const record: QueueRecord = { id: `poison-${++sequence}`, body: bodyWith(slot, value.text, key) };
            const dead: string[] = [];
            const [outcome] = await processBatch([record], {
              mailer,
              deadLetter: async (r) => void dead.push(r.id),
            });
            expect(outcome, record.body.slice(0, 300)).toBeDefined();
            if (outcome!.status === 'sent' || outcome!.status === 'duplicate') return;
            expect(outcome!.reason, record.body.slice(0, 300)).not.toMatch(/^unexpected error/);
            if (outcome!.status === 'retry') {
              expect(outcome!.error?.retryable, outcome!.reason).toBe(true);
              return;
            }
            expect(dead).toEqual([record.id]);
            expect(outcome!.errorCode).toMatch(/^[A-Z_]+$/);
            expect(outcome!.errorCode).not.toBe('UNKNOWN');
          },
        ),
        { numRuns: 300, examples: [issueCase] },
      );
    });

    it(`POST /v1/send answers 200 or a typed 4xx, never throws nor 500 (${kind} mailer)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...slots),
          hostile,
          fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }),
          async (slot, value, key) => {
            const body = bodyWith(slot, value.text, key === undefined ? undefined : `${key}-${++sequence}`);
            const answer = await routeHttpRequest(mailer, {
              method: 'POST',
              path: '/v1/send',
              body,
              headers: { 'content-type': 'application/json', host: '127.0.0.1' },
            }).catch((error: unknown) => ({
              status: -1,
              body: { thrown: String(error), typed: isMailrouteError(error) },
            }));
            expect(answer.status, `${JSON.stringify(answer.body).slice(0, 300)} for ${body.slice(0, 200)}`).toBeOneOf([
              200, 400, 403, 409, 413, 422,
            ]);
            if (answer.status !== 200)
              expect((answer.body as { error: { code: string } }).error.code).toMatch(/^[A-Z_]+$/);
          },
        ),
        { numRuns: 300, examples: [issueCase] },
      );
    });
  }
});

/** The recursive canonical JSON the hash was computed from before it was bounded: records in stores hold its hashes. */
function recursiveCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(recursiveCanonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${recursiveCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('property: the bounded payload hash is the hash records were written with', () => {
  // Strings of every kind: lone surrogates, pairs, and some longer than the 64 Ki pieces the hash escapes them in,
  // with a pair or a lone half right where a piece ends.
  const piece = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), loneSurrogate, fc.constantFrom('😀', '\u0000'));
  const text = fc.oneof(
    fc.array(piece, { maxLength: 6 }).map((p) => p.join('')),
    fc
      .tuple(fc.integer({ min: 65_530, max: 65_540 }), piece, fc.integer({ min: 1, max: 3 }))
      .map(([n, tail, times]) => `${'a'.repeat(n)}${tail}`.repeat(times)),
  );
  const value = fc.letrec<{ any: unknown }>((tie) => ({
    any: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.double(),
      fc.constantFrom(null, true, false, -0, undefined),
      fc.array(tie('any'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'b', 'B', 'a')), tie('any'), { maxKeys: 4 }),
    ),
  })).any;

  it('gives the same hash as the recursive canonical JSON for any value within the bounds', () => {
    fc.assert(
      // Top-level undefined is no message (and the recursive form could not hash it).
      fc.property(
        value.filter((v) => v !== undefined),
        (v) => {
          const reference = createHash('sha256').update(recursiveCanonicalJson(v)).digest('hex');
          expect(payloadHash(v)).toBe(reference);
        },
      ),
      { numRuns: 300 },
    );
  });
});
