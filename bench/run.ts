import { writeFileSync } from 'node:fs';
import { type BenchSection, machine } from './lib.ts';

// Each benchmark module exports `run(): Promise<BenchSection>`. `npm run bench -- NAME` runs only those named.
const ALL = [
  'send-vs-nodemailer',
  'smtp-pool',
  'api-mode',
  'api-mode-gmail-oci',
  'failover',
  'aws-bundle',
  'aws-batch',
];
const wanted = process.argv.slice(2);
const names = wanted.length ? ALL.filter((n) => wanted.includes(n)) : ALL;

const sections: BenchSection[] = [];
for (const name of names) {
  let mod: { run(): Promise<BenchSection> };
  try {
    mod = await import(`./${name}.ts`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(error).includes(`${name}.ts`))
      continue;
    throw error;
  }
  process.stderr.write(`bench: ${name}...\n`);
  const section = await mod.run();
  sections.push(section);
  process.stderr.write(`${section.markdown}\n\n`);
}

const doc = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${machine()}.`,
  'Figures are ratios of runs made side by side in one session on this machine; absolute numbers vary by machine.',
  '',
  ...sections.flatMap((s) => [`## ${s.title}`, '', s.markdown, '']),
].join('\n');
writeFileSync(new URL('./RESULTS.md', import.meta.url), doc);
process.stderr.write('bench: wrote bench/RESULTS.md\n');
