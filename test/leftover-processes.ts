import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';

// Global setup: the processes the tests start (servers, emulators, `mailroute serve`, chromium, sender processes)
// must all be gone when the run ends. Those started during the run from this checkout (their working directory or
// command line names it) and still alive a few seconds after the last test are listed, and the run fails.
// "During the run" is this run's own: the workers inherit a variable naming it, and so does every process a test
// starts, so another run in the same checkout at the same time (or a shell, a type check) is never counted.

const root = process.cwd();
const RUN_VARIABLE = 'MAILROUTE_TEST_RUN';

function processes(): Map<number, string> {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const found = new Map<number, string>();
  for (const line of out.split('\n')) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (match) found.set(Number(match[1]), match[2]!);
  }
  return found;
}

/** Started by this run: its environment (inherited from the workers) names the run. */
function ofThisRun(pid: number, run: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${RUN_VARIABLE}=${run}`);
  } catch {
    // Gone, or not ours to read.
    return false;
  }
}

function fromHere(pid: number, args: string): boolean {
  if (args.includes(root)) return true;
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === root || cwd.startsWith(`${root}/`);
  } catch {
    return false;
  }
}

/** This process and its ancestors (npm, the shell): running, but not left by a test. */
function ancestors(): Set<number> {
  const own = new Set<number>([process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !own.has(pid)) {
    own.add(pid);
    try {
      const stat = execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      pid = Number(stat);
    } catch {
      break;
    }
  }
  return own;
}

export default function setup() {
  // Set before the workers start: they, and every process a test starts, inherit it.
  const run = randomUUID();
  process.env[RUN_VARIABLE] = run;
  const before = new Set(processes().keys());
  return async function teardown() {
    const own = ancestors();
    const left = () =>
      [...processes()].filter(
        ([pid, args]) =>
          !before.has(pid) && !own.has(pid) && !args.startsWith('ps ') && fromHere(pid, args) && ofThisRun(pid, run),
      );
    const deadline = Date.now() + 5_000;
    let remaining = left();
    while (remaining.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      remaining = left();
    }
    if (remaining.length) {
      throw new Error(
        `the tests left ${remaining.length} process(es) running:\n${remaining.map(([pid, args]) => `  ${pid} ${args}`).join('\n')}`,
      );
    }
  };
}
