import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type BenchSection, machine } from './lib.ts';

// Each benchmark module exports `run(): Promise<BenchSection>`. `npm run bench -- NAME...` runs only those named
// and replaces their sections in RESULTS.md, keeping the others (each section says when it was measured).
const ALL = [
  'send-vs-nodemailer',
  'smtp-pool',
  'api-mode',
  'api-mode-gmail-oci',
  'failover',
  'aws-bundle',
  'aws-batch',
  'cloud-bundles',
  'idempotency',
  'events',
];
const wanted = process.argv.slice(2);
const names = wanted.length ? ALL.filter((n) => wanted.includes(n)) : ALL;
const target = new URL('./RESULTS.md', import.meta.url);
const today = new Date().toISOString().slice(0, 10);

/** The sections already in RESULTS.md, by title, in order. */
function previousSections(): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(target)) return sections;
  const parts = readFileSync(target, 'utf8').split(/^## /m).slice(1);
  for (const part of parts) {
    const title = part.slice(0, part.indexOf('\n')).trim();
    sections.set(title, part.slice(part.indexOf('\n') + 1).trim());
  }
  return sections;
}

const sections = wanted.length ? previousSections() : new Map<string, string>();
for (const name of names) {
  const mod: { run(): Promise<BenchSection> } = await import(`./${name}.ts`);
  process.stderr.write(`bench: ${name}...\n`);
  const section = await mod.run();
  sections.set(section.title, `_Measured ${today} on ${machine()}._\n\n${section.markdown}`);
  process.stderr.write(`${section.markdown}\n\n`);
}

const doc = [
  '# Benchmark results',
  '',
  'Written by `npm run bench`. Each section says when and on which machine it was measured. The figures that matter',
  'are ratios of runs made side by side in one session on one machine; absolute numbers vary by machine and load.',
  '',
  ...[...sections].flatMap(([title, body]) => [`## ${title}`, '', body, '']),
].join('\n');
writeFileSync(target, doc);
process.stderr.write('bench: wrote bench/RESULTS.md\n');
