import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./sender-process.ts', import.meta.url));
const SKEWED_CLOCK = fileURLToPath(new URL('./skewed-clock.ts', import.meta.url));

/** What a sender process printed: the result, or the error's JSON form; `killed` when it never answered. */
export type SenderOutcome =
  | { ok: true; result: Record<string, unknown> & { duplicate?: boolean; settled?: boolean } }
  | { ok: false; error: Record<string, unknown> & { code?: string; retryAfterMs?: number }; killed?: false }
  | { ok: false; killed: true; error?: undefined };

export interface SenderRun {
  child: ChildProcess;
  /** Settles when the process exits. */
  outcome: Promise<SenderOutcome>;
  /** Its JSON log lines (stderr), for a failing test's message. */
  log(): string;
  /** A crash: SIGKILL, no cleanup, no last word. */
  kill(): void;
}

export interface SenderSpec {
  config: Record<string, unknown>;
  message: Record<string, unknown>;
  options?: { idempotencyKey?: string; deadlineInMs?: number };
}

/**
 * Starts one "function instance" as its own process (see sender-process.ts), optionally with a wall clock that
 * runs `clockOffsetMs` ahead (positive) or behind (negative) the others'.
 */
export function spawnSender(
  spec: SenderSpec,
  options: { env?: Record<string, string>; clockOffsetMs?: number } = {},
): SenderRun {
  const args = options.clockOffsetMs ? ['--import', SKEWED_CLOCK, SCRIPT] : [SCRIPT];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...options.env,
      MR_SENDER_SPEC: JSON.stringify(spec),
      MR_CLOCK_OFFSET_MS: String(options.clockOffsetMs ?? 0),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      OCI_SDK_DEFAULT_RETRY_ENABLED: 'false',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const outcome = new Promise<SenderOutcome>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (signal === 'SIGKILL') return resolve({ ok: false, killed: true });
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || !line) {
        return reject(new Error(`sender exited with ${code ?? signal}: ${stdout}\n${stderr.slice(-4000)}`));
      }
      resolve(JSON.parse(line) as SenderOutcome);
    });
  });
  return { child, outcome, log: () => stderr, kill: () => child.kill('SIGKILL') };
}

/** Polls `condition` until it holds (never a fixed sleep to wait for another process), or fails after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A queue redelivering one message: a new instance each time, until the outcome is not "in progress" (the queue
 * would give it back after its visibility timeout, here the error's own retry-after, at most a second).
 */
export async function redeliverUntilSettled(
  deliver: () => SenderRun,
  timeoutMs = 60_000,
): Promise<{ outcomes: SenderOutcome[]; last: SenderOutcome }> {
  const outcomes: SenderOutcome[] = [];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await deliver().outcome;
    outcomes.push(outcome);
    if (outcome.ok || outcome.error?.code !== 'IN_PROGRESS') return { outcomes, last: outcome };
    if (Date.now() > until) throw new Error(`still in progress after ${timeoutMs} ms: ${JSON.stringify(outcomes)}`);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(1_000, Math.max(50, outcome.error?.retryAfterMs ?? 0))),
    );
  }
}
