import { describe, expect, it } from 'vitest';
import { validateMessage } from '../../core/message/validate.ts';

// An attachment as large as a provider takes is checked as base64 in one pass: the check used to repeat a group of
// four characters, whose backtracking entries overflowed the regular expression's stack from about 6 MB on (the
// message was refused as invalid: "Maximum call stack size exceeded").

const message = (content: string) => ({
  from: 'a@example.com',
  to: 'b@example.com',
  subject: 'Large',
  text: 'Attached.',
  attachments: [{ filename: 'large.bin', content }],
});

describe('a large base64 attachment', () => {
  it('of 30 MB (40 MB of base64) is valid, and decodes to its bytes', () => {
    const bytes = Buffer.alloc(30_000_001, 7);
    const checked = validateMessage(message(bytes.toString('base64')));
    expect(checked.ok).toBe(true);
    if (checked.ok) expect(checked.message.attachments[0]!.content.equals(bytes)).toBe(true);
  });

  it('is still refused when it is not base64, at any place or length', () => {
    const good = Buffer.alloc(9_000_000, 1).toString('base64');
    for (const bad of [`${good.slice(0, -8)}!${good.slice(-7)}`, `${good}A`, `${good.slice(0, -4)}A===`]) {
      expect(validateMessage(message(bad))).toMatchObject({
        ok: false,
        issues: [{ path: 'attachments[0].content', message: 'is not valid base64' }],
      });
    }
  });

  it('with line breaks, as base64 is often wrapped, is valid', () => {
    const wrapped = Buffer.alloc(3_000, 2).toString('base64').replace(/.{76}/g, '$&\r\n');
    expect(validateMessage(message(wrapped)).ok).toBe(true);
  });
});
