import { execFile } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One line of the summary table at the top of RESULTS.md: a measure, its goal, and what this run measured. */
export interface SummaryRow {
  measure: string;
  goal: string;
  now: string;
  /** Whether the goal is met; undefined when the measure has no pass/fail goal. */
  met?: boolean;
}

export interface BenchSection {
  title: string;
  markdown: string;
  /** The section's measures that have a goal, for the summary table at the top of RESULTS.md. */
  summary?: SummaryRow[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

/** Runs a worker script in its own Node process (so its peak memory is its own) and returns its JSON output. */
export async function runWorker<T>(script: string, args: unknown): Promise<T> {
  const path = new URL(`./workers/${script}`, import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [path, JSON.stringify(args)], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
