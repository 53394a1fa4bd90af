import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A failure the emulator plays instead of (or before) its normal answer. Tests arm faults through
 * `FaultPlan.add()` or over HTTP with `POST /_emulator/faults` (the same JSON).
 */
export interface Fault {
  /** Answer with this HTTP status and the service's own error body for it. */
  status?: number;
  /** The service's error code to put in the body (`TooManyRequests`, `userRateLimitExceeded`, ...). */
  errorCode?: string;
  /** The error message in the body, instead of the service's usual wording for the code (SES proxy). */
  message?: string;
  /** Seconds for a `Retry-After` header. */
  retryAfter?: number;
  /** Wait this long before answering (or before dropping). */
  latencyMs?: number;
  /** Destroy the socket instead of answering. */
  drop?: boolean;
  /**
   * Take the request and never answer: the connection stays open until the client gives up (or the emulator
   * closes). What a provider that has gone quiet looks like.
   */
  hang?: boolean;
  /**
   * Do the request's work (store the message), then destroy the socket instead of answering: the answer is lost
   * after the request was handed over. Emulators that support it say so.
   */
  dropAfter?: boolean;
  /** Play the fault for the next N matching requests (default 1). Ignored when `fraction` is set. */
  count?: number;
  /** Play the fault for this fraction (0..1) of matching requests, until cleared. */
  fraction?: number;
  /** Only requests whose path contains this string; default all except the control paths. */
  pathIncludes?: string;
}

interface ArmedFault extends Fault {
  remaining: number;
}

export class FaultPlan {
  private faults: ArmedFault[] = [];
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  add(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.count ?? 1 });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault to play for this request, if any; counts it down. */
  take(path: string): Fault | undefined {
    for (const fault of this.faults) {
      if (fault.pathIncludes && !path.includes(fault.pathIncludes)) continue;
      if (fault.fraction !== undefined) {
        if (this.random() < fault.fraction) return fault;
        continue;
      }
      if (fault.remaining > 0) {
        fault.remaining -= 1;
        if (fault.remaining === 0) this.faults = this.faults.filter((f) => f !== fault);
        return fault;
      }
    }
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Plays a fault's latency, hang and drop. Returns true when the request was hung or dropped (nothing more to do).
 * The caller writes the status/body itself, in the service's own error format.
 */
export async function playLatencyAndDrop(fault: Fault, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (fault.latencyMs) await sleep(fault.latencyMs);
  if (fault.hang) {
    await new Promise<void>((resolve) => {
      if (req.socket.destroyed) return resolve();
      req.socket.once('close', () => resolve());
    });
    return true;
  }
  if (fault.drop) {
    req.socket.destroy();
    res.destroy();
    return true;
  }
  return false;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
