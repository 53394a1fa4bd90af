/** Where a replay stands: messages taken so far, of how many (when the queue said), and what became of them. */
export interface Tally {
  done: number;
  /** About how many there are to do, when the queue says (Pub/Sub and OCI do not). */
  total?: number;
  replayed: number;
  skipped: number;
  failed: number;
  dryRun?: boolean;
}

const FULL = '█';
const EMPTY = '░';

/**
 * One line of progress: a bar when the total is known (`[████░░░░] 4/8`), the count alone when it is not, then
 * what became of the messages. Never longer than `columns` (the terminal's width), so a redraw stays on one line.
 */
export function renderBar(tally: Tally, columns = 80, width = 24): string {
  const { done, total, replayed, skipped, failed, dryRun } = tally;
  const counts = `${dryRun ? 'would replay' : 'replayed'} ${replayed} · skipped ${skipped} · failed ${failed}`;
  let head: string;
  if (total !== undefined && total > 0) {
    const filled = Math.round((width * Math.min(done, total)) / total);
    head = `[${FULL.repeat(filled)}${EMPTY.repeat(width - filled)}] ${done}/${total}`;
  } else {
    head = `${done} taken`;
  }
  const line = `${head}  ${counts}`;
  return line.length <= columns ? line : `${line.slice(0, Math.max(0, columns - 1))}…`;
}

/** Where progress goes: a terminal gets a bar redrawn in place, anything else one plain line per message. */
export interface ProgressOutput {
  /** Whether stdout is a terminal. */
  tty: boolean;
  /** Raw writes to stdout (no newline added), for the bar. */
  write: (text: string) => void;
  columns?: number;
}

const CLEAR_LINE = '\r\x1b[2K';

/**
 * Progress of a replay. On a terminal: a bar on the last line, redrawn after every message, and only the lines
 * that matter (failures) printed above it. Elsewhere (a pipe, a file, CI): one plain line per message, no
 * control characters.
 */
export class Progress {
  private drawn = false;
  private tally: Tally = { done: 0, replayed: 0, skipped: 0, failed: 0 };

  private readonly output: ProgressOutput;
  private readonly out: (line: string) => void;

  constructor(output: ProgressOutput, out: (line: string) => void) {
    this.output = output;
    this.out = out;
  }

  /** A line about one message: printed as it is off a terminal; on one, only when `always` (a failure). */
  line(text: string, always = false): void {
    if (!this.output.tty) {
      this.out(text);
      return;
    }
    if (!always) return;
    this.clear();
    this.out(text);
    this.draw();
  }

  update(tally: Tally): void {
    this.tally = tally;
    if (this.output.tty) this.draw();
  }

  /** Removes the bar, so what follows starts on a clean line. */
  end(): void {
    if (this.output.tty) this.clear();
  }

  private draw(): void {
    this.output.write(`${CLEAR_LINE}${renderBar(this.tally, this.output.columns ?? 80)}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.output.write(CLEAR_LINE);
    this.drawn = false;
  }
}
