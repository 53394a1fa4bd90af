import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { messageJsonSchema } from '../../core/json-schema.ts';

describe('committed JSON Schema', () => {
  it('is what the zod schema generates (run `npm run schema` after changing core/message.ts)', () => {
    const committed = readFileSync(new URL('../../schema/message.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(messageJsonSchema());
  });

  it('forbids line breaks in header-bound fields and unknown fields, for producers in any language', () => {
    const schema = JSON.parse(messageJsonSchema());
    expect(schema.required).toEqual(['from', 'subject']);
    expect(schema.additionalProperties).toBe(false);
    const pattern = new RegExp(schema.properties.subject.pattern);
    expect(pattern.test('Hello')).toBe(true);
    expect(pattern.test('Hello\r\nBcc: x@example.com')).toBe(false);
  });
});
