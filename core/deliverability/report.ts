import type { DoctorReport, DomainReport, ProviderReport } from './doctor.ts';

const MARK = { ok: 'ok', warn: 'warn', fail: 'FAIL', unknown: '?' } as const;

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const dmarcWord = (p: ProviderReport) => (p.dmarcPass === true ? 'pass' : p.dmarcPass === false ? 'FAIL' : '?');

/** What a DMARC failure does to the mail under the domain's policy. */
function consequence(policy: string): string {
  if (policy === 'reject') return 'rejected by receivers (p=reject)';
  if (policy === 'quarantine') return 'delivered to spam (p=quarantine)';
  return 'delivered unauthenticated (no enforcing policy), and refused by Gmail and Yahoo from bulk senders';
}

function domainLines(d: DomainReport): string[] {
  const lines = [`${d.domain} through route "${d.route}": DMARC policy ${d.policy} (${d.dmarc.name})`];
  if (d.dmarc.verdict !== 'ok') lines.push(`  ${MARK[d.dmarc.verdict]} dmarc: ${d.dmarc.says}`);
  if (d.providers.length === 0) {
    lines.push('  no provider entry of this route sends for this domain');
    return lines;
  }
  const rows = [['  ENTRY', 'PROVIDER', 'ROLE', 'DMARC', 'ALIGNED', 'ENVELOPE', 'FROM']];
  for (const p of d.providers) {
    rows.push([
      `  ${p.entry}`,
      p.provider,
      p.role,
      dmarcWord(p),
      p.aligned.join('+') || '-',
      p.envelope ?? '-',
      p.source,
    ]);
  }
  lines.push(...table(rows));
  for (const p of d.providers) {
    for (const c of p.checks) {
      if (c.verdict !== 'ok') lines.push(`  ${MARK[c.verdict]} ${p.entry} ${c.check}: ${c.says}`);
    }
    if (p.note && p.source !== 'api') lines.push(`  note ${p.entry}: ${p.note}`);
    for (const step of p.steps) lines.push(`  step ${p.entry}: ${step}`);
  }
  const failing = d.providers.filter((p) => p.dmarcPass === false);
  for (const p of failing) {
    const what = p.role === 'primary' ? 'Sending through' : 'Failing over to';
    lines.push(`  => ${what} ${p.entry} would fail DMARC for ${d.domain}: ${consequence(d.policy)}.`);
  }
  if (d.records.length) {
    lines.push('  Records to publish:');
    lines.push(
      ...table(
        d.records.map((r) => [
          `    ${r.name}`,
          r.type,
          r.type === 'TXT' ? JSON.stringify(r.value) : r.value,
          r.action === 'replace' ? '(replaces the record there now)' : '',
        ]),
      ),
    );
  }
  return lines;
}

/** The doctor's report as text: one block per sender domain and route, then the verdict. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  for (const d of report.domains) lines.push(...domainLines(d), '');
  for (const note of report.notes) lines.push(`note: ${note}`);
  const fails = report.domains.flatMap((d) =>
    d.providers.filter((p) => p.dmarcPass === false).map((p) => `${p.entry} for ${d.domain}`),
  );
  const unknown = report.domains.flatMap((d) =>
    d.providers.filter((p) => p.dmarcPass === undefined).map((p) => `${p.entry} for ${d.domain}`),
  );
  if (fails.length) lines.push(`FAIL: would fail DMARC: ${[...new Set(fails)].join(', ')}.`);
  else if (report.domains.length)
    lines.push('OK: every provider each route can reach passes DMARC for its sender domains.');
  if (unknown.length) lines.push(`Could not tell: ${[...new Set(unknown)].join(', ')} (see the notes above).`);
  return lines.join('\n');
}
