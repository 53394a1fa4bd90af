#!/usr/bin/env node
// Runs the compiled CLI when the package was built (npm pack), else the TypeScript sources directly:
// Node 22 strips types itself, except under node_modules, which is why a built copy is preferred.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : '../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
