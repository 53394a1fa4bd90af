import { writeFileSync } from 'node:fs';
import { eventJsonSchema } from '../core/events/event.ts';
import { messageJsonSchema } from '../core/message/json-schema.ts';
import { builtInProviders } from '../providers/index.ts';

// `npm run schema` writes the committed schema, whose providerOptions come from the built-in providers' descriptors;
// a test fails when it is out of date.
const target = new URL('../schema/message.schema.json', import.meta.url);
writeFileSync(target, messageJsonSchema(builtInProviders));
console.log(`wrote ${target.pathname}`);
const events = new URL('../schema/event.schema.json', import.meta.url);
writeFileSync(events, eventJsonSchema());
console.log(`wrote ${events.pathname}`);
