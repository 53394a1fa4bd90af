import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { composeMessage } from '../../core/message/compose.ts';
import { MAX_SUBJECT_CHARS } from '../../core/message/message.ts';
import { normalizeMessage, validateMessage } from '../../core/message/validate.ts';

const base = { from: 'a@example.com', to: 'b@example.com', text: 'Hello' };
const words = (chars: number) =>
  Array.from({ length: chars }, (_, i) => `word${i}`)
    .join(' ')
    .slice(0, chars);

/** Composes the message and returns its header lines (unfolded: every physical line) and the subject read back. */
async function composed(subject: string) {
  const { raw } = await composeMessage(normalizeMessage({ ...base, subject }));
  const text = raw.toString('latin1');
  const header = text.slice(0, text.indexOf('\r\n\r\n'));
  return { lines: text.split('\r\n'), header, parsed: (await simpleParser(raw)).subject };
}

describe('long subjects', () => {
  // RFC 5322's 998 is per line: a longer subject is folded, so it is legal.
  it.each([
    ['2,000 characters of words', words(2_000)],
    ['2,000 non-ASCII characters', 'é'.repeat(2_000)],
    ['a mix over 998', `Réunion ${words(1_500)} ✓`],
    ['the bound, in words', words(MAX_SUBJECT_CHARS)],
    ['the bound, in CJK', '漢'.repeat(MAX_SUBJECT_CHARS)],
  ])('accepts %s, folds it into lines of at most 998, and a parser reads it back whole', async (_, subject) => {
    expect(subject.length).toBeGreaterThan(998);
    expect(validateMessage({ ...base, subject }).ok).toBe(true);
    const { lines, header, parsed } = await composed(subject);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(998);
    expect(header).toMatch(/^Subject: /m);
    expect(parsed).toBe(subject);
  });

  it(`refuses a subject over ${MAX_SUBJECT_CHARS} characters, naming the bound`, () => {
    const result = validateMessage({ ...base, subject: `${'a '.repeat(MAX_SUBJECT_CHARS / 2)}x` });
    expect(result.ok).toBe(false);
    const issues = result.ok ? [] : result.issues;
    expect(issues).toEqual([
      { path: 'subject', message: `is longer than the limit of ${MAX_SUBJECT_CHARS} characters` },
    ]);
  });

  // nodemailer folds a header at whitespace only: a run of ~990 characters without one stays a line over 998
  // unless core/message/compose.ts sends such a subject as RFC 2047 encoded words (which nodemailer does fold).
  it('folds a subject with a run of 2,000 characters and no space', async () => {
    const subject = 'x'.repeat(2_000);
    const { lines, parsed } = await composed(subject);
    expect(parsed).toBe(subject);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(998);
  });
});
