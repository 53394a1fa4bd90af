import { writeFileSync } from 'node:fs';
import { messageJsonSchema } from '../core/json-schema.ts';

// `npm run schema` writes the committed schema; a test fails when it is out of date.
const target = new URL('../schema/message.schema.json', import.meta.url);
writeFileSync(target, messageJsonSchema());
console.log(`wrote ${target.pathname}`);
