import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { composeMessage } from '../../core/message/compose.ts';
import { validateMessage } from '../../core/message/validate.ts';

/** Header names in the MIME header block, after unfolding continuation lines. */
function topLevelHeaderNames(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const block = text.slice(0, text.indexOf('\r\n\r\n'));
  return block
    .split('\r\n')
    .filter((line) => !/^[ \t]/.test(line))
    .map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
}

// Strings biased towards what breaks headers: line breaks, NUL, colons, quotes, angle brackets, encoded-word
// markers and non-ASCII text, mixed with ordinary characters.
const nasty = fc.constantFrom(
  '\r',
  '\n',
  '\r\n',
  '\0',
  ':',
  '"',
  '<',
  '>',
  ',',
  ';',
  '=?',
  '?=',
  '\\',
  ' ',
  'ü',
  '日本',
  '\t',
);
const piece = fc.oneof(fc.string({ maxLength: 8 }), nasty, fc.string({ unit: 'grapheme', maxLength: 4 }));
const tricky = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
const localPart = fc.oneof(
  fc.stringMatching(/^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,20}$/),
  tricky.map((s) => `"${s}"`),
  tricky,
);

const expectedHeaders = new Set([
  'from',
  'to',
  'reply-to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'x-custom',
]);

describe('property: nothing validation accepts can inject a header', () => {
  it('holds for display names, local parts, subjects and header values', async () => {
    await fc.assert(
      fc.asyncProperty(tricky, localPart, tricky, tricky, tricky, async (name, local, subject, value, replyName) => {
        const input = {
          from: { name, address: 'sender@example.com' },
          to: [`${local}@example.com`],
          replyTo: `"${replyName}" <reply@example.com>`,
          subject,
          text: 'body',
          headers: { 'X-Custom': value },
        };
        const result = validateMessage(input);
        const hasBreak = [name, local, subject, value, replyName].some((s) => /[\r\n\0]/.test(s));
        if (hasBreak) expect(result.ok).toBe(false);
        if (!result.ok) return;
        const prepared = await composeMessage(result.message);
        const names = topLevelHeaderNames(prepared.raw);
        for (const n of names) expect(expectedHeaders.has(n), `unexpected header "${n}"`).toBe(true);
        expect(names.filter((n) => n === 'to')).toHaveLength(1);
        const parsed = await simpleParser(prepared.raw);
        // Folding may change runs of white space; the words must survive intact.
        const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
        expect(squash(parsed.subject ?? '')).toBe(squash(subject));
        expect(parsed.bcc).toBeUndefined();
        expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value.length : 0).toBe(1);
      }),
      { numRuns: 300 },
    );
  });
});
