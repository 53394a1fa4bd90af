import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MailrouteConfig, validateConfig } from '../../core/config/config.ts';
import { ConfigurationError, InvalidMessageError, SenderNotAllowedError } from '../../core/errors.ts';
import { Mailer, type SendOptions } from '../../core/mailer.ts';
import { routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { processBatch, type QueueRecord } from '../../core/runtime/queue-batch.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import type { StateStore } from '../../stores/store.ts';

const outbox = mkdtempSync(join(tmpdir(), 'mr-senders-'));
const sentFiles = () => readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;

const base = {
  providers: [{ name: 'local', provider: 'local', mode: 'api' }],
  outboxDir: outbox,
  allowedSenders: [
    'app@example.com',
    'example.org',
    '*.example.net',
    'Mixed@Case.Example',
    'bücher.example',
    'xn--caf-dma.example',
  ],
  routes: [
    { name: 'main', providers: ['local'] },
    { name: 'news', providers: ['local'], allowedSenders: ['news@example.org'] },
    {
      name: 'shop',
      providers: ['local'],
      senderDomains: ['shop.example.net'],
      allowedSenders: ['orders@shop.example.net'],
    },
    { name: 'internal', providers: ['local'] },
  ],
  messageRoutes: ['main', 'news', 'shop'],
  defaultRoute: 'main',
};

/** Every store call, by method: a refused sender must leave the store untouched (no claim, no screen). */
function countingStore(): { store: StateStore; calls: string[] } {
  const calls: string[] = [];
  const inner = new MemoryStore();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return value.apply(target, args);
      };
    },
  });
  return { store, calls };
}

const counted = countingStore();
const mailerOf = (config: Record<string, unknown>, store?: StateStore) =>
  new Mailer(validateConfig(config, 'test', builtInProviders), createAdapter, {
    providers: builtInProviders,
    ...(store ? { store, eventsStore: store } : {}),
  });
const mailer = mailerOf(base, counted.store);
afterAll(() => mailer.close());

const message = (from: string, extra: Record<string, unknown> = {}) => ({
  from,
  to: 'someone@elsewhere.example',
  subject: 'Hello',
  text: 'Hi',
  ...extra,
});

/** The error a send throws, or undefined when it was sent. */
async function refusal(from: string, extra: Record<string, unknown> = {}, options: SendOptions = {}) {
  try {
    await mailer.send(message(from, extra), options);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('allowedSenders', () => {
  it('lets through an exact address, and no other address of its domain', async () => {
    expect(await refusal('app@example.com')).toBeUndefined();
    expect(await refusal('App Name <app@example.com>')).toBeUndefined();
    expect(await refusal('other@example.com')).toBeInstanceOf(SenderNotAllowedError);
  });

  it('lets through every address of a domain, but not its subdomains', async () => {
    expect(await refusal('anyone@example.org')).toBeUndefined();
    expect(await refusal('a@mail.example.org')).toBeInstanceOf(SenderNotAllowedError);
  });

  it('lets through the subdomains of a *. entry at any depth, but not the domain itself nor a look-alike', async () => {
    expect(await refusal('a@mail.example.net')).toBeUndefined();
    expect(await refusal('a@x.y.example.net')).toBeUndefined();
    expect(await refusal('a@example.net')).toBeInstanceOf(SenderNotAllowedError);
    expect(await refusal('a@badexample.net')).toBeInstanceOf(SenderNotAllowedError);
    expect(await refusal('a@example.net.evil.example')).toBeInstanceOf(SenderNotAllowedError);
  });

  it('ignores case in addresses, domains and entries', async () => {
    expect(await refusal('APP@Example.COM')).toBeUndefined();
    expect(await refusal('mixed@case.example')).toBeUndefined();
    expect(await refusal('MIXED@CASE.EXAMPLE')).toBeUndefined();
    expect(await refusal('Anyone@EXAMPLE.ORG')).toBeUndefined();
  });

  it('compares internationalized domains in ASCII, whichever form the entry and the sender use', async () => {
    expect(await refusal('a@bücher.example')).toBeUndefined();
    expect(await refusal('a@BÜCHER.example')).toBeUndefined();
    expect(await refusal('a@xn--bcher-kva.example')).toBeUndefined();
    expect(await refusal('a@café.example')).toBeUndefined();
    expect(await refusal('a@bucher.example')).toBeInstanceOf(SenderNotAllowedError);
  });

  it('refuses before anything is claimed, screened or sent: the store is never touched', async () => {
    const before = sentFiles();
    counted.calls.length = 0;
    const error = await refusal('ceo@any.example', { idempotencyKey: 'k-refused' });
    expect(error).toBeInstanceOf(SenderNotAllowedError);
    expect(counted.calls).toEqual([]);
    expect(sentFiles()).toBe(before);
    // The key was never claimed: the same key with a real sender sends (no conflict, no duplicate).
    const sent = await mailer.send(message('app@example.com', { idempotencyKey: 'k-refused' }));
    expect(sent.duplicate).toBeUndefined();
    expect(() => mailer.explain(message('ceo@any.example'))).toThrow(SenderNotAllowedError);
  });

  it('is a typed error: SENDER_NOT_ALLOWED, neither retryable nor failed over, with a sentence listing the entries', async () => {
    const error = (await refusal('ceo@any.example')) as SenderNotAllowedError;
    expect(error.toJSON()).toEqual({
      name: 'SenderNotAllowedError',
      code: 'SENDER_NOT_ALLOWED',
      message:
        'from: "ceo@any.example" is not an allowed sender (allowedSenders: app@example.com, example.org, *.example.net, mixed@case.example, xn--bcher-kva.example, xn--caf-dma.example)',
      retryable: false,
      failover: false,
      sender: 'ceo@any.example',
    });
    expect(error.mayHaveDelivered).toBe(false);
  });

  it('lists at most ten entries and counts the rest', () => {
    const entries = Array.from({ length: 13 }, (_, i) => `d${i}.example`);
    const error = new SenderNotAllowedError('x@y.example', entries);
    expect(error.message).toBe(
      `from: "x@y.example" is not an allowed sender (allowedSenders: ${entries.slice(0, 10).join(', ')}, and 3 more)`,
    );
  });

  it('without the field, every sender is let through as before', async () => {
    const open = mailerOf({ providers: base.providers, outboxDir: outbox });
    try {
      await expect(open.send(message('ceo@any.example'))).resolves.toMatchObject({ route: 'default' });
    } finally {
      await open.close();
    }
  });
});

describe('routes[].allowedSenders', () => {
  it("narrows a route the message names to the route's own list", async () => {
    expect(await refusal('news@example.org', { route: 'news' })).toBeUndefined();
    const error = (await refusal('billing@example.org', { route: 'news' })) as SenderNotAllowedError;
    expect(error).toBeInstanceOf(SenderNotAllowedError);
    expect(error.toJSON()).toMatchObject({
      code: 'SENDER_NOT_ALLOWED',
      route: 'news',
      sender: 'billing@example.org',
      message:
        'from: "billing@example.org" is not an allowed sender on route "news" (its allowedSenders: news@example.org)',
    });
    // The same sender on a route without a list of its own is let through by the top-level list.
    expect(await refusal('billing@example.org', { route: 'main' })).toBeUndefined();
  });

  it('narrows a route the caller names, and one picked by sender domain', async () => {
    expect(await refusal('billing@example.org', {}, { route: 'news' })).toMatchObject({ route: 'news' });
    expect(await refusal('orders@shop.example.net')).toBeUndefined();
    expect(await refusal('someone@shop.example.net')).toMatchObject({
      code: 'SENDER_NOT_ALLOWED',
      route: 'shop',
    });
  });

  it('keeps the top-level list in force on a route with its own', async () => {
    const config = {
      ...base,
      allowedSenders: ['example.org', 'news@mail.example.net'],
      routes: [{ name: 'news', providers: ['local'], allowedSenders: ['*.example.net'] }],
      messageRoutes: undefined,
      defaultRoute: undefined,
    };
    const narrow = mailerOf(config);
    try {
      // On the route's list (*.example.net), but not on the top-level one.
      await expect(narrow.send(message('other@mail.example.net', { route: 'news' }))).rejects.toMatchObject({
        code: 'SENDER_NOT_ALLOWED',
        message: expect.stringContaining('(allowedSenders: example.org, news@mail.example.net)'),
      });
      // On the top-level list, but not on the route's.
      await expect(narrow.send(message('a@example.org', { route: 'news' }))).rejects.toMatchObject({ route: 'news' });
      await expect(narrow.send(message('news@mail.example.net', { route: 'news' }))).resolves.toMatchObject({
        route: 'news',
      });
    } finally {
      await narrow.close();
    }
  });

  it('does not apply to a send through one provider entry, which takes no route', async () => {
    await expect(
      mailer.send(message('billing@example.org', { route: 'news' }), { provider: 'local' }),
    ).resolves.toMatchObject({ route: 'provider:local' });
  });
});

describe('messageRoutes', () => {
  it('refuses a message naming a route not on the list, with the same sentence whether it exists or not', async () => {
    for (const route of ['internal', 'nope']) {
      const error = (await refusal('app@example.com', { route })) as InvalidMessageError;
      expect(error).toBeInstanceOf(InvalidMessageError);
      expect(error.issues).toEqual([
        { path: 'route', message: `"${route}" is not a route a message may name (messageRoutes: main, news, shop)` },
      ]);
      expect(error.retryable).toBe(false);
    }
  });

  it("does not limit the caller's own route option, which is trusted code", async () => {
    expect(await refusal('app@example.com', {}, { route: 'internal' })).toBeUndefined();
  });

  it('[] lets a message name no route at all', async () => {
    const none = mailerOf({ ...base, messageRoutes: [] });
    try {
      await expect(none.send(message('app@example.com', { route: 'main' }))).rejects.toMatchObject({
        code: 'INVALID_MESSAGE',
        issues: [
          {
            path: 'route',
            message: '"main" is not a route a message may name (messageRoutes is empty: a message may name none)',
          },
        ],
      });
      await expect(none.send(message('app@example.com'))).resolves.toMatchObject({ route: 'main' });
    } finally {
      await none.close();
    }
  });
});

describe('a refused sender at the edges', () => {
  it('is answered 403 by the HTTP API, with the error JSON', async () => {
    const answer = await routeHttpRequest(mailer, {
      method: 'POST',
      path: '/v1/send',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message('ceo@any.example')),
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({
      ok: false,
      error: { code: 'SENDER_NOT_ALLOWED', retryable: false, failover: false, sender: 'ceo@any.example' },
    });
  });

  it('is dead-lettered at once from a queue, with SENDER_NOT_ALLOWED as its reason', async () => {
    const deadLetters: { id: string; reason: string }[] = [];
    const records: QueueRecord[] = [
      { id: 'q1', body: JSON.stringify(message('ceo@any.example')) },
      { id: 'q2', body: JSON.stringify(message('app@example.com')) },
    ];
    const outcomes = await processBatch(records, {
      mailer,
      deadLetter: async (record, reason) => {
        deadLetters.push({ id: record.id, reason });
      },
    });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['q1', 'dead-letter'],
      ['q2', 'sent'],
    ]);
    expect(outcomes[0]).toMatchObject({ errorCode: 'SENDER_NOT_ALLOWED' });
    expect(deadLetters).toEqual([
      {
        id: 'q1',
        reason: expect.stringMatching(/^SENDER_NOT_ALLOWED: from: "ceo@any.example" is not an allowed sender/),
      },
    ]);
  });
});

describe('configuration of allowedSenders and messageRoutes', () => {
  const issuesOf = (over: Record<string, unknown>) => {
    try {
      validateConfig({ providers: base.providers, ...over });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigurationError);
      return (error as ConfigurationError).issues;
    }
    throw new Error('expected the configuration to be refused');
  };
  const FORMS = 'an address (user@example.com), a domain (example.com) or its subdomains (*.example.com)';

  it('refuses a malformed entry, naming it and the forms an entry takes', () => {
    expect(issuesOf({ allowedSenders: ['@@'] })).toEqual([
      { path: 'allowedSenders[0]', message: `"@@" is not an email address (local@domain); an entry is ${FORMS}` },
    ]);
    expect(issuesOf({ allowedSenders: ['example.com', ''] })).toEqual([
      { path: 'allowedSenders[1]', message: `must not be empty: give ${FORMS}` },
    ]);
    expect(issuesOf({ allowedSenders: [] })).toEqual([
      { path: 'allowedSenders', message: 'must list at least one sender: leave the field out to allow every sender' },
    ]);
  });

  it('says what is wrong with each kind of mistake', () => {
    const cases: [string, string | RegExp][] = [
      ['*', 'a wildcard is allowed only as "*." before a domain'],
      ['*@example.com', 'a wildcard is allowed only as "*." before a domain'],
      ['*.com', '"*.com": "com" is not a domain name such as example.com'],
      ['@example.com', `"@example.com" is not ${FORMS}: write a domain without "@" (example.com)`],
      ['App <app@example.com>', 'give the address alone, without a display name or <>'],
      ['localhost', `"localhost" is not ${FORMS}`],
      ['exa mple.com', `"exa mple.com" is not ${FORMS}`],
      ['a\nb.example', 'contains a control character'],
      ['jöe@example.com', /non-ASCII characters in its local part/],
    ];
    for (const [entry, expected] of cases) {
      const [issue, ...rest] = issuesOf({ allowedSenders: [entry] });
      expect(rest, entry).toEqual([]);
      expect(issue?.path, entry).toBe('allowedSenders[0]');
      if (typeof expected === 'string') expect(issue?.message, entry).toContain(expected);
      else expect(issue?.message, entry).toMatch(expected);
    }
  });

  it('checks a route list like the top-level one, and against it', () => {
    const routes = (allowedSenders: string[], senderDomains?: string[]) => [
      { name: 'news', providers: ['local'], allowedSenders, ...(senderDomains ? { senderDomains } : {}) },
    ];
    expect(issuesOf({ routes: routes(['news@example.org', '@@']) })).toEqual([
      {
        path: 'routes[0].allowedSenders[1]',
        message: `"@@" is not an email address (local@domain); an entry is ${FORMS}`,
      },
    ]);
    expect(
      issuesOf({
        allowedSenders: ['example.org', '*.example.net'],
        routes: routes(['news@example.org', 'example.net']),
      }),
    ).toEqual([
      {
        path: 'routes[0].allowedSenders[1]',
        message: '"example.net" is outside the top-level allowedSenders, so no sender could use it',
      },
    ]);
    expect(
      issuesOf({ allowedSenders: ['example.org'], routes: routes(['news@example.org'], ['shop.example']) }),
    ).toEqual([
      {
        path: 'routes[0].senderDomains[0]',
        message: '"shop.example" is not allowed by allowedSenders: its mail would take this route and be refused',
      },
    ]);
    expect(issuesOf({ routes: routes(['news@example.org'], ['example.net']) })).toEqual([
      {
        path: 'routes[0].senderDomains[0]',
        message: `"example.net" is not allowed by the route's allowedSenders: its mail would take this route and be refused`,
      },
    ]);
  });

  it('accepts lists that agree, however they are written', () => {
    const config: MailrouteConfig = validateConfig({
      providers: base.providers,
      allowedSenders: ['*.example.org', 'BÜCHER.example'],
      routes: [
        {
          name: 'news',
          providers: ['local'],
          allowedSenders: ['News@Mail.Example.org'],
          senderDomains: ['mail.example.org'],
        },
        {
          name: 'books',
          providers: ['local'],
          allowedSenders: ['xn--bcher-kva.example'],
          senderDomains: ['bücher.example'],
        },
      ],
      messageRoutes: ['news'],
    });
    expect(config.allowedSenders).toEqual(['*.example.org', 'BÜCHER.example']);
  });

  it('refuses a messageRoutes entry that names no route', () => {
    expect(issuesOf({ routes: [{ name: 'main', providers: ['local'] }], messageRoutes: ['main', 'mian'] })).toEqual([
      { path: 'messageRoutes[1]', message: 'names no route "mian" (have: main)' },
    ]);
  });

  it('names an unknown field near them', () => {
    expect(issuesOf({ allowedSender: ['example.com'] })).toEqual([
      { path: 'allowedSender', message: 'unknown field (did you mean "allowedSenders"?)' },
    ]);
  });
});
