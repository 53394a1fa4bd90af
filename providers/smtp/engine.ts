import type { Readable } from 'node:stream';
import { createTransport } from 'nodemailer';
import DKIM from 'nodemailer/lib/dkim';
import type { SendContext } from '../../core/adapter.ts';
import { callSignal } from '../../core/deadline.ts';
import type { RejectedRecipient } from '../../core/errors.ts';
import { HANDOVER, type Handover, watchHandover } from './handover.ts';
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

/**
 * One pooled SMTP client over nodemailer, shared by every SMTP-mode adapter. It sends composed MIME with a
 * separate envelope and translates every failure into the project's errors.
 */
export class SmtpEngine {
  readonly options: SmtpEngineOptions;
  private pool?: Pool;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: SmtpEngineOptions) {
    this.options = options;
    if (options.auth && 'pass' in options.auth) registerAuthSecrets(options.auth.user, options.auth.pass);
  }

  async send(raw: Buffer, envelope: { from: string; to: string[] }, context: SendContext = {}): Promise<SmtpDelivery> {
    this.pool ??= createPool(this.options);
    const handover: Handover = { size: raw.length, done: false };
    const signal = deadlineSignal(context);
    const mail = { raw, envelope, ...(signal ? { signal } : {}), [HANDOVER]: handover };
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
      throw this.translate(error, handover.done);
    } finally {
      this.inFlight.delete(sending);
    }
  }

  /** Connects, says EHLO, upgrades to TLS and authenticates, on a connection of its own; sends nothing. */
  async verify(context: SendContext = {}): Promise<void> {
    const remaining = context.deadline === undefined ? undefined : Math.max(context.deadline - Date.now(), 1);
    const transport = createTransport(transportOptions(this.options, remaining));
    let timer: NodeJS.Timeout | undefined;
    try {
      const expired = new Promise<never>((_, reject) => {
        if (remaining === undefined) return;
        timer = setTimeout(
          () => reject(Object.assign(new Error('verify timed out'), { code: 'ETIMEDOUT' })),
          remaining,
        );
      });
      await Promise.race([transport.verify(), expired]);
    } catch (error) {
      throw this.translate(error, false);
    } finally {
      clearTimeout(timer);
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

  private translate(error: unknown, handedOver: boolean) {
    return translateSmtpError(error, { provider: this.options.provider, rules: this.options.rules ?? [], handedOver });
  }
}

function createPool(o: SmtpEngineOptions) {
  const transport = createTransport({
    ...transportOptions(o),
    pool: true,
    maxConnections: o.pool?.maxConnections ?? 5,
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
