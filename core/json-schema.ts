import { z } from 'zod';
import { messageSchema } from './message.ts';

/** The message's JSON Schema (draft 2020-12), generated from the zod schema that validation uses. */
export function messageJsonSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(messageSchema, { target: 'draft-2020-12', io: 'input' }), null, 2)}\n`;
}
