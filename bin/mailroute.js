#!/usr/bin/env node
// Node 22 runs the TypeScript sources directly, except under node_modules, where it refuses to strip types:
// an installed package runs the compiled copy (`npm run build`, done by `npm pack`), a checkout the sources.
const installed = import.meta.url.includes('/node_modules/');
const { main } = await import(installed ? '../dist/cli/main.js' : '../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
