import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { ConfigurationError, InvalidMessageError } from '../../core/errors.ts';
import { withManagedUnsubscribe } from '../../core/events/unsubscribe.ts';
import { Mailer } from '../../core/mailer.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage, validateMessage } from '../../core/message/validate.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { expectManagedFields, OWN, OWN_FIELDS, UNSUB_CONFIG, UNSUB_KEY } from './fields.ts';

const base = { from: 'News <news@example.com>', to: 'ann@example.net', subject: 'This week', text: 'Hello' };
const withUnsub = (unsubscribe: unknown, extra: Record<string, unknown> = {}) => ({ ...base, unsubscribe, ...extra });
const issuesOf = (input: unknown) => {
  const result = validateMessage(input);
  if (result.ok) throw new Error('expected the message to be refused');
  return result.issues;
};
const entries = (m: { headers: Record<string, string> }) => Object.entries(m.headers);

beforeEach(() => vi.stubEnv('MR_TEST_UNSUB_KEY', UNSUB_KEY));
afterEach(() => vi.unstubAllEnvs());

describe('the unsubscribe field', () => {
  it('sets List-Unsubscribe (URL, then mailto) and List-Unsubscribe-Post, after the message’s own headers', () => {
    const m = normalizeMessage(withUnsub(OWN, { headers: { 'X-Campaign': 'weekly' } }));
    expect(entries(m)).toEqual([['X-Campaign', 'weekly'], ...OWN_FIELDS]);
    expect(m.unsubscribe).toEqual({
      url: OWN.url,
      mailto: 'mailto:leave@news.example.com',
      oneClick: true,
    });
  });

  it('without oneClick: List-Unsubscribe alone, an http URL allowed (RFC 2369)', () => {
    expect(entries(normalizeMessage(withUnsub({ url: 'http://example.com/u?id=1' })))).toEqual([
      ['List-Unsubscribe', '<http://example.com/u?id=1>'],
    ]);
    expect(entries(normalizeMessage(withUnsub({ mailto: 'leave@example.com', oneClick: false })))).toEqual([
      ['List-Unsubscribe', '<mailto:leave@example.com>'],
    ]);
  });

  it('writes the header in ASCII: punycode hosts, percent-encoded URLs and mailto local parts', () => {
    const m = normalizeMessage(
      withUnsub({ url: 'https://bücher.example/abmelden?liste=Grüße,1', mailto: 'mailto:"john doe"@bücher.example' }),
    );
    expect(m.headers['List-Unsubscribe']).toBe(
      '<https://xn--bcher-kva.example/abmelden?liste=Gr%C3%BC%C3%9Fe%2C1>, <mailto:%22john%20doe%22@xn--bcher-kva.example>',
    );
  });

  it('refuses what no header can carry or no mail client can use, each with its path', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ url: 'http://example.com/u', oneClick: true }, 'unsubscribe.url', /must be an https URL.*RFC 8058/],
      [{ url: 'javascript:alert(1)' }, 'unsubscribe.url', /must be an https \(or http\) URL/],
      [{ url: '/relative' }, 'unsubscribe.url', /is not an absolute URL/],
      [{ url: 'https://user:pw@example.com/u' }, 'unsubscribe.url', /user name or password/],
      [{ url: `https://example.com/${'a'.repeat(900)}` }, 'unsubscribe.url', /over the limit of 900/],
      [{ url: 'https://example.com/u\r\nBcc: victim@example.com' }, 'unsubscribe.url', /line break/],
      [{ mailto: 'Leave <leave@example.com>' }, 'unsubscribe.mailto', /without a display name/],
      [{ mailto: 'nobody' }, 'unsubscribe.mailto', /not an email address/],
      [{}, 'unsubscribe', /needs a url, a mailto address, or oneClick: true/],
      [{ oneClick: false }, 'unsubscribe', /needs a url/],
      [{ url: 'https://example.com/u', list: 'x' }, 'unsubscribe', /unknown field "list"/],
    ];
    for (const [unsubscribe, path, message] of cases) {
      const issues = issuesOf(withUnsub(unsubscribe));
      expect(issues, JSON.stringify(unsubscribe)).toContainEqual({ path, message: expect.stringMatching(message) });
    }
  });

  it('makes List-Unsubscribe and List-Unsubscribe-Post reserved: set by this field only', () => {
    const issues = issuesOf({
      ...base,
      headers: { 'list-unsubscribe': '<https://example.com/u>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
    expect(issues).toEqual([
      { path: 'headers.list-unsubscribe', message: 'is a reserved header: it is set by unsubscribe' },
      { path: 'headers.List-Unsubscribe-Post', message: 'is a reserved header: it is set by unsubscribe (oneClick)' },
    ]);
  });

  it('refuses a mailroute-made one-click link for more than one recipient, saying why', () => {
    const issues = issuesOf(withUnsub({ oneClick: true }, { to: ['ann@example.net'], bcc: 'bob@example.org' }));
    expect(issues).toEqual([
      {
        path: 'unsubscribe',
        message: expect.stringMatching(
          /unsubscribes the one recipient it is made for, and this message has 2 in to, cc and bcc: send one message per recipient, or give your own url/,
        ),
      },
    ]);
    // Your own URL may serve a list: it is yours to tell recipients apart.
    expect(validateMessage(withUnsub(OWN, { cc: 'bob@example.org' })).ok).toBe(true);
  });
});

describe('a one-click link mailroute makes', () => {
  const mailer = (unsubscribe?: unknown) =>
    new Mailer(
      validateConfig(
        { providers: [{ provider: 'local', mode: 'api' }], ...(unsubscribe ? { unsubscribe } : {}) },
        'test',
        builtInProviders,
      ),
      createAdapter,
      { providers: builtInProviders },
    );

  it('is signed for the one recipient and the sender, under the configured base URL', () => {
    const m = withManagedUnsubscribe(normalizeMessage(withUnsub({ oneClick: true, mailto: 'leave@example.com' })), {
      unsubscribe: validateConfig({ providers: [{ provider: 'local', mode: 'api' }], unsubscribe: UNSUB_CONFIG })
        .unsubscribe,
    });
    const [list, post] = entries(m) as [[string, string], [string, string]];
    expect(list[1]).toMatch(/, <mailto:leave@example\.com>$/);
    expectManagedFields([[list[0], list[1].replace(/, <mailto:.*$/, '')], post], 'ann@example.net', 'news@example.com');
  });

  it('works at least ttlDays, to the end of a UTC day: a retry the same day carries the very same link', () => {
    const unsubscribe = { ...UNSUB_CONFIG, ttlDays: 30 };
    const config = validateConfig({ providers: [{ provider: 'local', mode: 'api' }], unsubscribe });
    const at = (iso: string) =>
      withManagedUnsubscribe(normalizeMessage(withUnsub({ oneClick: true })), config, { now: Date.parse(iso) })
        .unsubscribe?.url;
    const morning = at('2026-03-01T00:00:01Z');
    expect(at('2026-03-01T23:59:59Z')).toBe(morning);
    expect(at('2026-03-02T00:00:01Z')).not.toBe(morning);
    const token = new URL(morning!).searchParams.get('token')!;
    const claim = Buffer.from(token.split('.')[0]!, 'base64url').toString();
    expect(claim).toBe(`ann%40example.net|news%40example.com|${Date.parse('2026-04-01T00:00:00Z') / 1000}`);
  });

  it('needs the configuration’s unsubscribe block: without it the send is refused, nothing sent', async () => {
    const send = mailer().send(withUnsub({ oneClick: true }));
    await expect(send).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(send).rejects.toMatchObject({
      issues: [{ path: 'unsubscribe.url', message: expect.stringMatching(/no unsubscribe block \(baseUrl, secret\)/) }],
    });
  });

  it('needs a signing key of 32 characters or more, and one that is set', async () => {
    vi.stubEnv('MR_TEST_UNSUB_KEY', 'short');
    await expect(mailer(UNSUB_CONFIG).send(withUnsub({ oneClick: true }))).rejects.toThrow(
      /unsubscribe\.secret is 5 characters: a signing key needs at least 32/,
    );
    vi.stubEnv('MR_TEST_UNSUB_KEY', '');
    await expect(mailer(UNSUB_CONFIG).send(withUnsub({ oneClick: true }))).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('is never composed without its link: outside Mailer.send it is refused, not dropped', async () => {
    await expect(composeMessage(normalizeMessage(withUnsub({ oneClick: true })))).rejects.toBeInstanceOf(
      InvalidMessageError,
    );
  });
});

describe('the unsubscribe configuration block', () => {
  const config = (unsubscribe: unknown) => () =>
    validateConfig({ providers: [{ provider: 'local', mode: 'api' }], unsubscribe });

  it('takes an https base URL (http for localhost only), a secret reference and ttlDays', () => {
    expect(config({ ...UNSUB_CONFIG, ttlDays: 30 })).not.toThrow();
    expect(config({ ...UNSUB_CONFIG, baseUrl: 'http://127.0.0.1:3025' })).not.toThrow();
    expect(config({ ...UNSUB_CONFIG, baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod' })).not.toThrow();
  });

  it('refuses a public http URL, a query, a secret given as a value, an unknown field', () => {
    expect(config({ ...UNSUB_CONFIG, baseUrl: 'http://mail.example.com' })).toThrow(/unsubscribe\.baseUrl: .*https/);
    expect(config({ ...UNSUB_CONFIG, baseUrl: 'https://mail.example.com/?a=1' })).toThrow(/no query or fragment/);
    expect(config({ ...UNSUB_CONFIG, secret: 'plain-text' })).toThrow(/never the value itself/);
    expect(config({ ...UNSUB_CONFIG, ttl: 3 })).toThrow(/unsubscribe/);
  });
});
