import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { HttpLimits } from '../config/http-config.ts';
import type { HttpAnswer } from './http-api.ts';

/**
 * Memory bounded by configuration, not by the clients: how large one request body may be (`http.maxBodyBytes`)
 * and how many bytes of bodies the process holds at once (`http.maxInflightBytes`). `serve` applies both before it
 * reads a body (by its Content-Length, else as it arrives); each cloud's HTTP function, whose platform hands the
 * body over already read, before parsing it (core/runtime/http-routes.ts).
 */

/** Seconds a client is told to wait (`Retry-After`) when the budget is spent: requests in flight end in about that. */
export const RETRY_AFTER_SECONDS = 1;

/** A share of the in-flight budget, held until `release()` (idempotent). */
export interface Reservation {
  readonly bytes: number;
  /** Takes `bytes` more (a body without Content-Length, as it arrives): false when the budget has no room. */
  grow(bytes: number): boolean;
  release(): void;
}

/** The bytes of request bodies a process holds at once: each request reserves its share before it is read. */
export class InflightBudget {
  readonly limit: number;
  private used = 0;
  private total = 0;
  private readonly idle = new Set<() => void>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** The bytes reserved now. */
  get inFlight(): number {
    return this.used;
  }

  /** The bytes ever reserved (a running count, to tell how much passed through since some moment). */
  get taken(): number {
    return this.total;
  }

  /** A reservation of `bytes`, or undefined when it would pass the limit (nothing is reserved then). */
  reserve(bytes: number): Reservation | undefined {
    if (!this.fits(bytes)) return undefined;
    this.used += bytes;
    this.total += bytes;
    let held = bytes;
    let released = false;
    return {
      get bytes() {
        return held;
      },
      grow: (more: number) => {
        if (released || !this.fits(more)) return false;
        this.used += more;
        this.total += more;
        held += more;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= held;
        if (this.used === 0) for (const listener of [...this.idle]) listener();
      },
    };
  }

  /** Calls `listener` each time the last reservation is released; returns what stops it. */
  onIdle(listener: () => void): () => void {
    this.idle.add(listener);
    return () => this.idle.delete(listener);
  }

  private fits(bytes: number): boolean {
    // One request is always taken when nothing else is in flight: the budget is never smaller than the body limit.
    return this.used === 0 || this.used + bytes <= this.limit;
  }
}

/** One budget per process and limit: every mailer of a process with the same budget shares it. */
const budgets = new Map<number, InflightBudget>();

/** The process's budget for a limit (`httpLimits(config).maxInflightBytes`). */
export function inflightBudget(limit: number): InflightBudget {
  let budget = budgets.get(limit);
  if (!budget) {
    budget = new InflightBudget(limit);
    budgets.set(limit, budget);
  }
  return budget;
}

/**
 * The request's `Content-Length` as a number, undefined when it has none (a chunked body), or NaN when it is not
 * a length (Node's parser refuses those before `serve` sees them; a platform may not).
 */
export function declaredLength(headers: Record<string, string | undefined> | undefined): number | undefined {
  const value = headers?.['content-length']?.trim();
  if (value === undefined || value === '') return undefined;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/**
 * 413 BODY_TOO_LARGE naming the setting and the limit. `actual`: the Content-Length (`content-length`), the bytes
 * read when the body was cut at the first chunk past the limit (`cut`), or the size of a body already read (`body`).
 */
export function bodyTooLarge(limits: HttpLimits, actual: number, how: 'content-length' | 'cut' | 'body'): HttpAnswer {
  const what =
    how === 'content-length'
      ? `the request body is ${actual} bytes (Content-Length)`
      : how === 'cut'
        ? `the request body was cut at ${actual} bytes`
        : `the request body is ${actual} bytes`;
  return {
    status: 413,
    headers: { 'cache-control': 'no-store' },
    body: {
      ok: false,
      error: {
        code: 'BODY_TOO_LARGE',
        message: `${what}, over the limit of ${limits.maxBodyBytes} bytes (${limits.bodySetting})`,
        field: limits.bodySetting,
        limit: limits.maxBodyBytes,
        actual,
      },
    },
  };
}

/** 503 SERVER_BUSY with `Retry-After`: the budget has no room for this body now; nothing of it was used. */
export function serverBusy(limits: HttpLimits, budget: InflightBudget, wanted: number): HttpAnswer {
  return {
    status: 503,
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS), 'cache-control': 'no-store' },
    body: {
      ok: false,
      error: {
        code: 'SERVER_BUSY',
        message: `requests in flight hold ${budget.inFlight} bytes of bodies and this one needs ${wanted} more, over the limit of ${limits.maxInflightBytes} bytes this server holds at once (${limits.inflightSetting}): retry after ${RETRY_AFTER_SECONDS} s`,
        field: limits.inflightSetting,
        limit: limits.maxInflightBytes,
        inFlight: budget.inFlight,
        actual: wanted,
        retryable: true,
        retryAfterMs: RETRY_AFTER_SECONDS * 1000,
      },
    },
  };
}

/** 400 for a Content-Length that is not a length. */
export function badLength(value: string | undefined): HttpAnswer {
  return {
    status: 400,
    headers: { 'cache-control': 'no-store' },
    body: {
      ok: false,
      error: { code: 'BAD_REQUEST', message: `Content-Length ${JSON.stringify(value)} is not a number of bytes` },
    },
  };
}

/**
 * What a request reserves before its body is read: its Content-Length, or for a body without one (chunked) a first
 * 64 KiB (less under a smaller limit), grown as it arrives.
 */
export const firstReservation = (limits: HttpLimits, declared: number | undefined): number =>
  declared ?? Math.min(64 * 1024, limits.maxBodyBytes);

/** A refusal while reading a body: over the limit (413) or the budget spent (503). */
export type BodyRefusal = { reason: 'too-large' | 'busy'; answer: HttpAnswer };

/**
 * Collects a body of chunks, at most `limits.maxBodyBytes`, into one buffer: sized by `declared` (the
 * Content-Length, already checked against the limit and reserved) or grown as chunks arrive, each growth reserved
 * first. `push` answers the refusal of the first chunk over the limit (413) or the budget (503), after which the
 * caller stops reading. The chunks are copied as they come and never kept, and the buffer is let go once decoded:
 * at the end the text alone is held.
 */
export class BodyCollector {
  private buffer: Buffer;
  private size = 0;
  private readonly limits: HttpLimits;
  private readonly budget: InflightBudget;
  private readonly reservation: Reservation;
  private readonly declared: number | undefined;

  constructor(options: {
    limits: HttpLimits;
    budget: InflightBudget;
    reservation: Reservation;
    declared: number | undefined;
  }) {
    ({ limits: this.limits, budget: this.budget, reservation: this.reservation, declared: this.declared } = options);
    // A body without Content-Length starts in what was reserved for it (`firstReservation`), and grows.
    this.buffer = Buffer.allocUnsafe(this.declared ?? this.reservation.bytes);
  }

  /** The bytes taken so far. */
  get received(): number {
    return this.size;
  }

  push(chunk: Uint8Array): BodyRefusal | undefined {
    const end = this.size + chunk.length;
    if (end > this.limits.maxBodyBytes || (this.declared !== undefined && end > this.declared)) {
      // Past the limit; or past the Content-Length, which a platform's reader might hand over (Node's parser not).
      return { reason: 'too-large', answer: bodyTooLarge(this.limits, end, 'cut') };
    }
    if (end > this.buffer.length) {
      // Doubled (bounded by the limit) so that a long body is copied a few times, not once per chunk; reserved
      // first, or at least what it needs when the doubled size does not fit.
      const roomy = Math.min(Math.max(end, this.buffer.length * 2), this.limits.maxBodyBytes);
      const capacity = [roomy, end].find((bytes) => this.reserveUpTo(bytes));
      if (capacity === undefined) {
        return { reason: 'busy', answer: serverBusy(this.limits, this.budget, end - this.reservation.bytes) };
      }
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.size);
    this.size = end;
    return undefined;
  }

  /** The body as text (UTF-8); the buffer is let go. */
  text(): string {
    const text = this.buffer.toString('utf8', 0, this.size);
    this.buffer = Buffer.alloc(0);
    return text;
  }

  private reserveUpTo(bytes: number): boolean {
    return bytes <= this.reservation.bytes || this.reservation.grow(bytes - this.reservation.bytes);
  }
}

/**
 * V8's full collection, which Node gives only to a process started with `--expose-gc`: taken once from a context
 * made while the flag is on (the flag is then put back), undefined if this Node refuses it. Asked for as a
 * `last-resort` collection, the one that also gives the heap's free pages back to the system (an older V8 ignores
 * the option and collects all the same).
 */
let fullCollection: (() => void) | undefined | null = null;
function collector(): (() => void) | undefined {
  if (fullCollection !== null) return fullCollection;
  let gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc');
    } catch {
      gc = undefined;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  const collect = typeof gc === 'function' ? (gc as (options: object) => void) : undefined;
  fullCollection = collect && (() => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' }));
  return fullCollection;
}

/**
 * Gives back what requests held once the server is idle. V8 collects when a program allocates, and keeps the
 * pages it collected for later; an idle server allocates nothing, so the memory of a burst (large bodies: their
 * text, parsed messages, attachments, MIME; or thousands of small sends) would stay in the process until the next
 * one. So when the last request in flight has ended: one full collection that also returns the free pages, at the
 * next turn of the event loop if at least `thresholdBytes` of bodies were taken since the last one (what a large
 * body leaves is let go before the next large body comes), else after `delayMs` without a request, and at most
 * once every `intervalMs` (a client sending small messages now and then does not cause one each time). Returns
 * what stops it.
 */
export function releaseWhenIdle(
  budget: InflightBudget,
  options: { thresholdBytes?: number; delayMs?: number; intervalMs?: number } = {},
): () => void {
  const threshold = options.thresholdBytes ?? 8 * 1024 * 1024;
  const delayMs = options.delayMs ?? 1000;
  const intervalMs = options.intervalMs ?? 10_000;
  let collectedAt = budget.taken;
  let lastTime = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  /** How long after this idle moment to collect, or undefined when nothing was taken since the last time. */
  const wait = (): number | undefined => {
    const since = budget.taken - collectedAt;
    if (since >= threshold) return 0;
    if (since === 0) return undefined;
    return Math.max(delayMs, lastTime + intervalMs - performance.now());
  };
  let timerAt = 0;
  const stopListening = budget.onIdle(() => {
    const ms = wait();
    if (ms === undefined || (timer && timerAt <= performance.now() + ms)) return;
    // Sooner than the one set (large bodies since): set again.
    if (timer) clearTimeout(timer);
    timerAt = performance.now() + ms;
    timer = setTimeout(() => {
      timer = undefined;
      // A request came in meanwhile: the next idle moment tries again.
      if (budget.inFlight > 0 || wait() === undefined) return;
      collectedAt = budget.taken;
      lastTime = performance.now();
      collector()?.();
    }, ms);
    timer.unref();
  });
  return () => {
    stopListening();
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
}
