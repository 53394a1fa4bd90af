import { z } from 'zod';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { messageSchemaFor } from './message.ts';

/**
 * The message's JSON Schema (draft 2020-12), generated from the zod schema that validation uses; with a registry,
 * `providerOptions` lists each provider's options (the committed schema is made with the built-in registry).
 */
export function messageJsonSchema(providers?: ProviderRegistry): string {
  const schema = messageSchemaFor(providers);
  return `${JSON.stringify(z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }), null, 2)}\n`;
}
