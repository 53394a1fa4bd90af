import { describe, expect, it } from 'vitest';
import { InvalidMessageError } from '../../core/errors.ts';
import { composeMessage } from '../../core/message/compose.ts';
import { normalizeMessage, validateMessage } from '../../core/message/validate.ts';

const base = { from: 'App <app@example.com>', to: 'user@example.com', subject: 'Hello', text: 'Hi' };

function issuesOf(input: unknown) {
  const result = validateMessage(input);
  if (result.ok) throw new Error('expected the message to be refused');
  return result.issues;
}

describe('validateMessage', () => {
  it('normalizes every address form into { name, address } lists', () => {
    const m = normalizeMessage({
      ...base,
      to: ['"Doe, Jane" <jane@example.com>', { name: 'Bob', address: 'bob@example.org' }],
      cc: 'carol@example.net',
      replyTo: 'Support <support@example.com>',
    });
    expect(m.from).toEqual({ name: 'App', address: 'app@example.com' });
    expect(m.to).toEqual([
      { name: 'Doe, Jane', address: 'jane@example.com' },
      { name: 'Bob', address: 'bob@example.org' },
    ]);
    expect(m.cc).toEqual([{ address: 'carol@example.net' }]);
    expect(m.replyTo).toEqual([{ name: 'Support', address: 'support@example.com' }]);
    expect(m.bcc).toEqual([]);
  });

  it('reports every problem at once, each with its path', () => {
    const issues = issuesOf({
      to: ['ok@example.com', 'ok2@example.com', 'not-an-address'],
      subject: 'Hi\r\nBcc: victim@example.com',
      attachments: [{ filename: 'a.txt', content: '***' }],
      headers: { Subject: 'again', 'X-Ok': 'fine' },
    });
    const paths = issues.map((i) => i.path).sort();
    expect(paths).toEqual(['attachments[0].content', 'from', 'headers.Subject', 'subject', 'text', 'to[2]'].sort());
    expect(issues.find((i) => i.path === 'from')?.message).toBe('is required');
    expect(issues.find((i) => i.path === 'subject')?.message).toMatch(/line break/);
    expect(issues.find((i) => i.path === 'headers.Subject')?.message).toMatch(/reserved/);
    expect(issues.find((i) => i.path === 'to[2]')?.message).toMatch(/not an email address/);
  });

  it('refuses the headers that speak for the sender or the receiving side, each with why', () => {
    const why: Record<string, string> = {
      'Resent-From':
        'Resent-* fields say who re-sent the message and when (RFC 5322 3.6.6): they would speak for a sender other than from',
      'DKIM-Signature':
        'it is added by the signing domain (smtp.dkim, or the provider); one given here would claim to speak for a domain',
      'DomainKey-Signature': 'it is added by the signing domain, never given with the message',
      'Authentication-Results':
        'it is written by the receiving side after checking SPF, DKIM and DMARC (RFC 8601); given here it would forge that verdict',
      'Received-SPF':
        'it is written by the receiving side after checking SPF (RFC 7208); given here it would forge that verdict',
      'ARC-Seal':
        'ARC fields are added by the mail systems that handle the message (RFC 8617) to vouch for its authentication, never by its sender',
      Received: 'it is added by each mail server the message passes through, never by its sender',
      'Delivered-To': 'it is added by the receiving mail system when it delivers the message',
      'X-Original-To': 'it is added by the receiving mail system when it delivers the message',
      'Return-Path': 'it is set by the envelope sender (from)',
    };
    for (const [name, reason] of Object.entries(why)) {
      expect(issuesOf({ ...base, headers: { [name]: 'x' } }), name).toEqual([
        { path: `headers.${name}`, message: `is a reserved header: ${reason}` },
      ]);
    }
    const families = [
      ...['From', 'Sender', 'To', 'Cc', 'Bcc', 'Date', 'Message-ID', 'Reply-To'].map((f) => `Resent-${f}`),
      ...['Seal', 'Message-Signature', 'Authentication-Results'].map((f) => `ARC-${f}`),
    ];
    for (const name of [...families, 'dkim-signature', 'RECEIVED', 'resent-from', 'arc-seal']) {
      const [issue] = issuesOf({ ...base, headers: { [name]: 'x' } });
      expect(issue, name).toMatchObject({
        path: `headers.${name}`,
        message: expect.stringMatching(/^is a reserved header: /),
      });
    }
    // Names that only resemble them are the caller's to set.
    const own = { 'X-Received-By': 'a', 'Archived-At': '<https://example.com/a>', 'X-ARC-Note': 'b', Resentment: 'c' };
    expect(validateMessage({ ...base, headers: own }).ok).toBe(true);
  });

  it('refuses CR, LF and NUL in addresses, names and header values', () => {
    expect(issuesOf({ ...base, to: 'a@example.com\r\nX-Evil: 1' }).map((i) => i.path)).toEqual(['to']);
    expect(issuesOf({ ...base, to: { name: 'Eve\nBcc: x@example.com', address: 'a@example.com' } })[0]!.path).toBe(
      'to',
    );
    expect(issuesOf({ ...base, headers: { 'X-A': 'one\ntwo' } })[0]!.path).toBe('headers.X-A');
    expect(issuesOf({ ...base, headers: { 'X-A': 'nul\u0000' } })[0]!.path).toBe('headers.X-A');
    expect(issuesOf({ ...base, headers: { 'Bad Name': 'v' } })[0]!.path).toBe('headers.Bad Name');
  });

  it('needs at least one recipient and a body', () => {
    const issues = issuesOf({ from: 'a@example.com', subject: 's', to: [] });
    expect(issues).toContainEqual({ path: 'to', message: 'at least one recipient is required in to, cc or bcc' });
    expect(issues.map((i) => i.path)).toContain('text');
    expect(validateMessage({ from: 'a@example.com', bcc: 'b@example.com', subject: 's', html: '<p>x</p>' }).ok).toBe(
      true,
    );
  });

  it('converts internationalized domains to punycode', () => {
    const m = normalizeMessage({ ...base, from: 'Bücher <info@bücher.example>', to: 'user@例え.jp' });
    expect(m.from.address).toBe('info@xn--bcher-kva.example');
    expect(m.to[0]!.address).toBe('user@xn--r8jz45g.jp');
  });

  it('accepts quoted local parts and refuses malformed ones', () => {
    expect(normalizeMessage({ ...base, to: '"john doe"@example.com' }).to[0]!.address).toBe('"john doe"@example.com');
    expect(normalizeMessage({ ...base, to: 'Q <"a@b"@example.com>' }).to[0]!.address).toBe('"a@b"@example.com');
    for (const bad of [
      'john doe@example.com',
      'a..b@example.com',
      '@example.com',
      'a@',
      'a@localhost',
      'a@-x.com',
      'ü@example.com',
    ]) {
      expect(validateMessage({ ...base, to: bad }).ok, bad).toBe(false);
    }
    expect(issuesOf({ ...base, to: 'a@example.com, b@example.com' })[0]!.message).toMatch(/more than one address/);
    expect(issuesOf({ ...base, to: `${'x'.repeat(65)}@example.com` })[0]!.message).toMatch(/over 64/);
  });

  it('checks attachments: base64 content, content ids, and the MIME type from the file name', () => {
    const m = normalizeMessage({
      ...base,
      attachments: [
        { filename: 'report.pdf', content: Buffer.from('%PDF').toString('base64') },
        { filename: 'logo.png', content: 'iVBORw0KGgo=', contentId: 'logo' },
      ],
    });
    expect(m.attachments[0]!.contentType).toBe('application/pdf');
    expect(m.attachments[0]!.content.toString()).toBe('%PDF');
    const issues = issuesOf({
      ...base,
      attachments: [
        { filename: 'a.png', content: 'AAAA', contentId: 'x' },
        { filename: 'b.png', content: 'AAAA', contentId: 'x' },
        { filename: 'c.png', content: 'AAA' },
        { filename: 'd.png' },
      ],
    });
    expect(issues.map((i) => i.path).sort()).toEqual([
      'attachments[1].contentId',
      'attachments[2].content',
      'attachments[3].content',
    ]);
  });

  it('names unknown fields and wrong types', () => {
    const issues = issuesOf({ ...base, sbuject: 'typo', tags: [{ name: 'bad tag!', value: 'x' }], metadata: 'no' });
    expect(issues).toContainEqual({ path: '', message: 'has unknown field "sbuject"' });
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['tags[0].name', 'metadata']));
    expect(validateMessage('not an object')).toEqual({
      ok: false,
      issues: [{ path: '', message: 'the message must be a JSON object' }],
    });
  });

  it('throws InvalidMessageError with the issues from normalizeMessage', () => {
    try {
      normalizeMessage({ ...base, from: undefined });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidMessageError);
      expect((error as InvalidMessageError).issues).toEqual([{ path: 'from', message: 'is required' }]);
      expect((error as InvalidMessageError).toJSON()).toMatchObject({
        code: 'INVALID_MESSAGE',
        retryable: false,
        failover: false,
      });
    }
  });
});

describe('composeMessage', () => {
  it('computes the exact encoded size and keeps Bcc out of the headers', async () => {
    const prepared = await composeMessage(normalizeMessage({ ...base, bcc: 'hidden@example.com' }));
    expect(prepared.size).toBe(prepared.raw.length);
    expect(prepared.raw.toString()).not.toMatch(/hidden@example.com/);
    expect(prepared.envelope).toEqual({ from: 'app@example.com', to: ['user@example.com', 'hidden@example.com'] });
  });

  it('derives the Message-ID from the idempotency key, so a retry carries the same one', async () => {
    const a = await composeMessage(normalizeMessage({ ...base, idempotencyKey: 'order-42' }));
    const b = await composeMessage(normalizeMessage({ ...base, idempotencyKey: 'order-42' }));
    const c = await composeMessage(normalizeMessage({ ...base, idempotencyKey: 'order-43' }));
    expect(a.messageId).toBe(b.messageId);
    expect(a.messageId).not.toBe(c.messageId);
    expect(a.messageId).toMatch(/^<[0-9a-f]{32}@example\.com>$/);
    expect(a.raw.toString()).toContain(`Message-ID: ${a.messageId}`);
  });
});
