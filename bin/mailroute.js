#!/usr/bin/env node
// Node 22 runs the TypeScript sources directly, except under node_modules, where it refuses to strip types:
// an installed package runs the compiled copy (`npm run build`, done by `npm pack`), a checkout the sources.
// The Node version is checked first, before anything is imported: an older Node would only fail on the import.
const installed = import.meta.url.includes('/node_modules/');
const version = process.versions.node;
const major = Number(version.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `mailroute needs Node 22 or later (this is Node v${version}): install it (e.g. nvm install 22) or run it with npx, which uses the project's own Node 22\n`,
  );
  process.exit(1);
}
// The sources need a Node that strips types: by default from 22.18 (`process.features.typescript` from 22.10).
const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
const stripsTypes = process.features.typescript ?? flags.includes('--experimental-strip-types');
if (!installed && !stripsTypes) {
  const [minor] = version.split('.').slice(1).map(Number);
  const why = major > 22 || minor >= 18 ? `this Node v${version} has it turned off` : `this is Node v${version}`;
  process.stderr.write(
    `mailroute runs from its TypeScript sources here, which needs Node 22.18 or later with type stripping on (${why}): install it (e.g. nvm install 22) or run it with npx, which uses the project's own Node 22\n`,
  );
  process.exit(1);
}
const { main } = await import(installed ? '../dist/cli/main.js' : '../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
