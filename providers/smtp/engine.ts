import { PassThrough, type Readable } from 'node:stream';
import { createTransport } from 'nodemailer';
import DKIM from 'nodemailer/lib/dkim';
import type { SendContext } from '../../core/contract/adapter.ts';
import { type RejectedRecipient, TransientError } from '../../core/errors.ts';
import { callSignal } from '../../core/util/deadline.ts';
import { HANDOVER, type Handover, watchHandover } from './handover.ts';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, HandshakeTimeoutError, HandshakeTimer, SendSlots } from './handshake.ts';
import { type ReplyRule, rejectedRecipients, translateSmtpError } from './reply-codes.ts';
import { registerAuthSecrets, transportOptions } from './transport-options.ts';

/** A password, or an XOAUTH2 token source (`renew` asks for a fresh token after the server refused one). */
export type SmtpAuth =
  | { user: string; pass: string }
  | { user: string; accessToken: (renew: boolean) => Promise<{ accessToken: string; expiresAt: number }> };

export interface SmtpEngineOptions {
  /** Names the provider in errors. */
  provider: string;
  host: string;
  port: number;
  /** Implicit TLS from the first byte; otherwise STARTTLS is required before anything else. */
  secure?: boolean;
  /** No TLS at all: for the loopback capture inbox only, never reachable from configuration. */
  plaintext?: boolean;
  /** PEM of a CA to trust (a private relay); it replaces the default roots for this endpoint. */
  ca?: string;
  servername?: string;
  ehloName?: string;
  auth?: SmtpAuth;
  pool?: { maxConnections?: number; maxMessages?: number };
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Connect, greeting, EHLO, STARTTLS and AUTH together; past it the send fails as never handed over. */
  handshakeTimeoutMs?: number;
  dkim?: { domainName: string; keySelector: string; privateKey: string };
  /** Provider-specific readings of replies, tried before the generic ones. */
  rules?: readonly ReplyRule[];
  /** How long `close()` waits for sends under way. */
  closeGraceMs?: number;
}

export interface SmtpDelivery {
  accepted: string[];
  rejected: RejectedRecipient[];
  /** The server's final reply, which often carries its queue or message id. */
  response: string;
}

type Pool = ReturnType<typeof createPool>;

const DEFAULT_MAX_CONNECTIONS = 5;

/**
 * One pooled SMTP client over nodemailer, shared by every SMTP-mode adapter. It sends composed MIME with a
 * separate envelope and translates every failure into the project's errors.
 */
export class SmtpEngine {
  readonly options: SmtpEngineOptions;
  private pool?: Pool;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly slots: SendSlots;
  private readonly handshakeMs: number;

  constructor(options: SmtpEngineOptions) {
    this.options = options;
    this.slots = new SendSlots(options.pool?.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.handshakeMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (options.auth && 'pass' in options.auth) registerAuthSecrets(options.auth.user, options.auth.pass);
  }

  async send(raw: Buffer, envelope: { from: string; to: string[] }, context: SendContext = {}): Promise<SmtpDelivery> {
    const deadline = deadlineSignal(context);
    const release = await this.slots.acquire(deadline).catch((reason: unknown) => {
      throw new TransientError(`${this.options.provider}: the deadline passed before a connection was free`, {
        provider: this.options.provider,
        mode: 'smtp',
        cause: reason,
      });
    });
    this.pool ??= createPool(this.options);
    // From here the pool sets a session up for this message (or reuses one): bounded by the handshake timeout.
    const handshake = new HandshakeTimer(this.handshakeMs);
    const handover: Handover = { size: raw.length, done: false, onStart: () => handshake.ready() };
    const signal = deadline ? AbortSignal.any([deadline, handshake.signal]) : handshake.signal;
    // The message as a one-shot stream, not the buffer: nodemailer's pool keeps the first message of each pooled
    // connection reachable from that connection's handlers until it closes, and a stream it has read holds nothing
    // (a buffer would stay in memory for the connection's life). It is read once: maxRequeues is 0.
    const mail = { raw: new PassThrough().end(raw), envelope, signal, [HANDOVER]: handover };
    const sending = this.pool.sendMail(mail as Parameters<Pool['sendMail']>[0]);
    this.inFlight.add(sending);
    try {
      const info = await sending;
      return {
        accepted: info.accepted.map(String),
        rejected: rejectedRecipients(info.rejectedErrors ?? []),
        response: String(info.response ?? ''),
      };
    } catch (error) {
      throw this.translate(error, { handedOver: handover.done, sessionReady: handover.started === true });
    } finally {
      handshake.ready();
      release();
      this.inFlight.delete(sending);
    }
  }

  /**
   * Connects, says EHLO, upgrades to TLS and authenticates, on a connection of its own; sends nothing. Bounded by
   * the handshake timeout (the provider is unavailable) and by the deadline (a transient failure: the caller's
   * time ran out, which says nothing about the provider).
   */
  async verify(context: SendContext = {}): Promise<void> {
    const remaining = context.deadline === undefined ? Infinity : Math.max(context.deadline - Date.now(), 1);
    const bound = Math.min(remaining, this.handshakeMs);
    // nodemailer's own timeouts a little later than these, so that the cause reported is the bound that ran out.
    const transport = createTransport(transportOptions(this.options, bound + 100));
    const timers: NodeJS.Timeout[] = [];
    const after = (ms: number, error: () => Error) =>
      new Promise<never>((_, reject) => timers.push(setTimeout(() => reject(error()), ms)));
    const deadlinePassed = () =>
      new TransientError(`${this.options.provider}: the deadline passed before the session was set up`, {
        provider: this.options.provider,
        mode: 'smtp',
      });
    try {
      await Promise.race([
        transport.verify(),
        after(this.handshakeMs, () => new HandshakeTimeoutError(this.handshakeMs)),
        ...(remaining < this.handshakeMs ? [after(remaining, deadlinePassed)] : []),
      ]);
    } catch (error) {
      throw this.translate(error, { handedOver: false, sessionReady: false });
    } finally {
      for (const timer of timers) clearTimeout(timer);
      transport.close();
    }
  }

  /**
   * Lets the sends under way finish (for at most `closeGraceMs`; a send with a deadline ends by then anyway),
   * then closes every pooled connection.
   */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => {
      timer = setTimeout(resolve, this.options.closeGraceMs ?? 10_000);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(timer);
    pool.close();
  }

  private translate(error: unknown, progress: { handedOver: boolean; sessionReady: boolean }) {
    return translateSmtpError(error, { provider: this.options.provider, rules: this.options.rules ?? [], ...progress });
  }
}

function createPool(o: SmtpEngineOptions) {
  const transport = createTransport({
    ...transportOptions(o),
    pool: true,
    maxConnections: o.pool?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxMessages: o.pool?.maxMessages ?? 100,
    // A requeue after the connection dropped could send a message the server already took; the router decides.
    maxRequeues: 0,
  });
  const dkim = o.dkim ? new DKIM(o.dkim) : undefined;
  transport.use('stream', (mail, done) => {
    if (dkim) mail.message.processFunc((input: Readable) => dkim.sign(input));
    const handover = (mail.data as Record<string, unknown>)[HANDOVER] as Handover | undefined;
    if (handover) mail.message.processFunc((input: Readable) => watchHandover(input, handover));
    done();
  });
  return transport;
}

/**
 * The caller's deadline bounds its own send. Pooled connections are shared, so their timeouts cannot follow one
 * caller; on abort the pool takes the message off its queue or closes the connection carrying it.
 */
function deadlineSignal(context: SendContext): AbortSignal | undefined {
  return callSignal(context);
}
