import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type BenchSection, machine, type SummaryRow } from './lib.ts';

// Each benchmark module exports `run(): Promise<BenchSection>`. `npm run bench -- NAME...` runs only those named
// and replaces their sections in RESULTS.md, keeping the others (each section says when it was measured).
const ALL = [
  'send-vs-nodemailer',
  'smtp-pool',
  'api-mode',
  'api-mode-gmail-oci',
  'send-profile',
  'failover',
  'aws-bundle',
  'aws-batch',
  'throughput',
  'cloud-bundles',
  'idempotency',
  'events',
  'memory',
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
    if (title === SUMMARY_TITLE) continue; // rebuilt from the sections' own rows
    sections.set(title, part.slice(part.indexOf('\n') + 1).trim());
  }
  return sections;
}

const SUMMARY_TITLE = 'Summary: every measure with a goal';
/** Each section keeps its summary rows in a comment at its end, so a partial run rebuilds the whole table. */
const ROWS = /<!-- summary: (.*) -->\s*$/;

function summaryTable(sections: Map<string, string>): string[] {
  const rows: (SummaryRow & { section: string; when: string })[] = [];
  for (const [title, body] of sections) {
    const found = ROWS.exec(body);
    if (!found?.[1]) continue;
    const when = /_Measured (\S+) on/.exec(body)?.[1] ?? '';
    for (const row of JSON.parse(found[1]) as SummaryRow[]) rows.push({ ...row, section: title, when });
  }
  if (rows.length === 0) return [];
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    `## ${SUMMARY_TITLE}`,
    '',
    'Each row is from the section named, measured on the date given (ratios of runs made side by side in that run).',
    '',
    '| measure | goal | now | met | section, date |',
    '| --- | --- | --- | :---: | --- |',
    ...rows.map(
      (r) =>
        `| ${cell(r.measure)} | ${cell(r.goal)} | ${cell(r.now)} | ${r.met === undefined ? '–' : r.met ? 'yes' : '**no**'} | ${cell(r.section)}, ${r.when} |`,
    ),
    '',
  ];
}

const sections = wanted.length ? previousSections() : new Map<string, string>();
for (const name of names) {
  const mod: { run(): Promise<BenchSection> } = await import(`./${name}.ts`);
  process.stderr.write(`bench: ${name}...\n`);
  const section = await mod.run();
  const rows = section.summary?.length ? `\n\n<!-- summary: ${JSON.stringify(section.summary)} -->` : '';
  sections.set(section.title, `_Measured ${today} on ${machine()}._\n\n${section.markdown}${rows}`);
  process.stderr.write(`${section.markdown}\n\n`);
}

const doc = [
  '# Benchmark results',
  '',
  'Written by `npm run bench`. Each section says when and on which machine it was measured. The figures that matter',
  'are ratios of runs made side by side in one session on one machine; absolute numbers vary by machine and load.',
  '',
  ...summaryTable(sections),
  ...[...sections].flatMap(([title, body]) => [`## ${title}`, '', body, '']),
].join('\n');
writeFileSync(target, doc);
process.stderr.write('bench: wrote bench/RESULTS.md\n');
