import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { SmtpEngine } from '../smtp/engine.ts';
import { type CaptureServer, startCaptureServer } from './capture-server.ts';
import type { LocalConfig } from './config.ts';
import { local } from './index.ts';

/**
 * The local capture inbox in SMTP mode: messages go over a real socket to the capture SMTP server, through the
 * same engine as the cloud providers but in plain SMTP (loopback, no TLS). With no `smtp.host` configured, the
 * adapter starts that server itself on a free loopback port.
 */
export class LocalSmtpAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'local';
  readonly mode = 'smtp' as const;
  readonly capabilities: Capabilities = local.modes.smtp.capabilities;
  readonly limits: Limits = local.modes.smtp.limits;
  readonly name: string;
  private readonly config: LocalConfig;
  private readonly outboxDir: string;
  private started?: Promise<{ engine: SmtpEngine; server?: CaptureServer }>;

  constructor(config: LocalConfig, outboxDir: string) {
    this.name = config.name;
    this.config = config;
    this.outboxDir = outboxDir;
  }

  private start(): Promise<{ engine: SmtpEngine; server?: CaptureServer }> {
    this.started ??= (async () => {
      const smtp = this.config.smtp;
      const server = smtp?.host ? undefined : await startCaptureServer({ outboxDir: this.outboxDir });
      const engine = new SmtpEngine({
        provider: this.provider,
        host: server?.host ?? smtp?.host ?? '127.0.0.1',
        port: server?.port ?? smtp?.port ?? 2525,
        plaintext: true,
        ehloName: smtp?.ehloName ?? 'localhost',
        ...(smtp?.pool ? { pool: smtp.pool } : {}),
      });
      return { engine, ...(server ? { server } : {}) };
    })();
    return this.started;
  }

  /** The capture server this adapter started, if it started one (tests and `npm start` print its port). */
  async captureServer(): Promise<CaptureServer | undefined> {
    return (await this.start()).server;
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const { engine } = await this.start();
    const delivery = await engine.send(await prepared.mime(), prepared.envelope, context);
    const stored = /Stored as (\S+)/.exec(delivery.response);
    return {
      ...(stored?.[1] ? { providerMessageId: stored[1] } : {}),
      accepted: delivery.accepted,
      rejected: delivery.rejected,
    };
  }

  async verify(context?: SendContext): Promise<void> {
    const { engine } = await this.start();
    await engine.verify(context);
  }

  async close(): Promise<void> {
    if (!this.started) return;
    const { engine, server } = await this.started;
    this.started = undefined;
    await engine.close();
    await server?.close();
  }
}
