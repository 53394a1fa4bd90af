import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventJsonSchema, mailEventSchema } from '../../core/events/event.ts';
import { messageJsonSchema } from '../../core/message/json-schema.ts';
import { builtInProviders } from '../../providers/index.ts';

describe('committed JSON Schema', () => {
  it('is what the zod schema generates (run `npm run schema` after changing core/message/message.ts or a descriptor)', () => {
    const committed = readFileSync(new URL('../../schema/message.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(messageJsonSchema(builtInProviders));
  });

  it('forbids line breaks in header-bound fields and unknown fields, for producers in any language', () => {
    const schema = JSON.parse(messageJsonSchema(builtInProviders));
    expect(schema.required).toEqual(['from', 'subject']);
    expect(schema.additionalProperties).toBe(false);
    const pattern = new RegExp(schema.properties.subject.pattern);
    expect(pattern.test('Hello')).toBe(true);
    expect(pattern.test('Hello\r\nBcc: x@example.com')).toBe(false);
  });

  it("lists each provider's options from its descriptor, and refuses any other provider or option", () => {
    const { providerOptions } = JSON.parse(messageJsonSchema(builtInProviders)).properties;
    expect(Object.keys(providerOptions.properties)).toEqual(builtInProviders.descriptors.map((d) => d.id));
    expect(providerOptions.additionalProperties).toBe(false);
    expect(Object.keys(providerOptions.properties.ses.properties)).toEqual(['configurationSet', 'listManagement']);
    expect(providerOptions.properties.ses.additionalProperties).toBe(false);
    expect(providerOptions.properties.gmail).toEqual({ type: 'object', properties: {}, additionalProperties: false });
    // Without a registry, the core knows no provider: options are checked by shape only.
    const open = JSON.parse(messageJsonSchema()).properties.providerOptions;
    expect(open.properties).toBeUndefined();
  });

  it('of the delivery event is committed too, and lists every event type', () => {
    const committed = readFileSync(new URL('../../schema/event.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(eventJsonSchema());
    const schema = JSON.parse(committed);
    expect(schema.properties.type.enum).toEqual([...EVENT_TYPES]);
    expect(schema.required).toEqual(expect.arrayContaining(['type', 'provider', 'eventTime']));
    expect(schema.additionalProperties).toBe(false);
    expect(
      mailEventSchema.safeParse({ type: 'bounced', provider: 'ses', eventTime: 'x', bounceType: 'maybe' }).success,
    ).toBe(false);
  });
});
