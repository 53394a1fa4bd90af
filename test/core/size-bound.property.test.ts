import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { composeMessage, prepareMessage } from '../../core/message/compose.ts';
import { validateMessage } from '../../core/message/validate.ts';

const text = fc.string({ unit: 'binary', maxLength: 3000 });
const name = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s));

describe('property: the size bound is never below the composed size', () => {
  it('holds for random bodies, names, headers and attachments', async () => {
    await fc.assert(
      fc.asyncProperty(
        name,
        text,
        fc.option(text, { nil: undefined }),
        fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 3 }),
        name,
        async (display, body, html, files, header) => {
          const result = validateMessage({
            from: { name: display, address: 'sender@example.com' },
            to: [{ name: display, address: 'to@example.com' }],
            subject: display,
            text: body || 'x',
            ...(html === undefined ? {} : { html }),
            headers: { 'X-Custom': header },
            attachments: files.map((f, i) => ({
              filename: `${display || 'f'}-${i}.bin`,
              content: Buffer.from(f).toString('base64'),
            })),
          });
          if (!result.ok) return;
          const composed = await composeMessage(result.message);
          expect(composed.sizeUpperBound).toBeGreaterThanOrEqual(composed.size);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('composes lazily and only once', async () => {
    const result = validateMessage({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' });
    if (!result.ok) throw new Error('invalid');
    const prepared = prepareMessage(result.message);
    expect(prepared.size).toBeUndefined();
    const [one, two] = await Promise.all([prepared.mime(), prepared.mime()]);
    expect(one).toBe(two);
    expect(prepared.size).toBe(one.length);
    expect(await prepared.encodedSize()).toBe(one.length);
  });
});
