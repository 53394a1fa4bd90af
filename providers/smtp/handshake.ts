/** How long connect, greeting, EHLO, STARTTLS and AUTH may take together, by default. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** The code of the abort reason a handshake that ran out of time gives. */
export const HANDSHAKE_TIMEOUT_CODE = 'EHANDSHAKE';

/** A session that was not ready for MAIL FROM in time: the server has not been given a byte of the message. */
export class HandshakeTimeoutError extends Error {
  readonly code = HANDSHAKE_TIMEOUT_CODE;
  constructor(timeoutMs: number) {
    super(`no SMTP session within ${timeoutMs} ms (connect, greeting, EHLO, STARTTLS, AUTH)`);
    this.name = 'HandshakeTimeoutError';
  }
}

export function isHandshakeTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === HANDSHAKE_TIMEOUT_CODE;
}

/**
 * Aborts one send whose session is not ready within the bound. nodemailer's own timeouts cover connecting, the
 * greeting and the TLS upgrade, but a server that stalls EHLO, the STARTTLS reply or AUTH is only cut by the
 * socket's idle timeout, which must be long enough for a big message's final reply. `ready()` is called when the
 * pool starts the message on a connection (its session done, or a kept-alive one).
 */
export class HandshakeTimer {
  readonly signal: AbortSignal;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    const controller = new AbortController();
    this.signal = controller.signal;
    this.timer = setTimeout(() => controller.abort(new HandshakeTimeoutError(timeoutMs)), timeoutMs);
  }

  ready(): void {
    clearTimeout(this.timer);
  }
}

/**
 * At most `size` sends at a time, first come first served: as many as the pool has connections, so a message
 * given to the pool is put on a connection at once, and the handshake bound measures the session, never a wait
 * for a busy pool. A wait ends early when `signal` aborts (the deadline).
 */
export class SendSlots {
  private readonly size: number;
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.size = size;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.used < this.size && this.waiting.length === 0) {
      this.used++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(grant);
        if (at !== -1) this.waiting.splice(at, 1);
        reject(signal?.reason);
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
    return this.releaser();
  }

  /** A slot's release; the slot passes straight to the next waiter, so `used` only drops when none waits. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}
