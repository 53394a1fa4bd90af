import { createTransport, type Transporter } from 'nodemailer';
import type { Adapter, AdapterSendResult, SendContext } from '../../core/adapter.ts';
import { ALL_CAPABILITIES } from '../../core/adapter.ts';
import type { PreparedMessage } from '../../core/compose.ts';
import { ProviderUnavailableError, TransientError } from '../../core/errors.ts';
import { type CaptureServer, startCaptureServer } from './capture-server.ts';
import { LOCAL_LIMITS, type LocalProviderConfig } from './shared.ts';

/**
 * The local capture inbox in SMTP mode: messages go over a real socket to the capture SMTP server. With no
 * `smtp.host` configured, the adapter starts that server itself on a free loopback port.
 */
export class LocalSmtpAdapter implements Adapter {
  readonly provider = 'local';
  readonly mode = 'smtp' as const;
  readonly capabilities = ALL_CAPABILITIES;
  readonly limits = LOCAL_LIMITS;
  readonly name: string;
  private readonly config: LocalProviderConfig;
  private readonly outboxDir: string;
  private started?: Promise<{ transport: Transporter; server?: CaptureServer }>;

  constructor(config: LocalProviderConfig, outboxDir: string) {
    this.name = config.name;
    this.config = config;
    this.outboxDir = outboxDir;
  }

  private start(): Promise<{ transport: Transporter; server?: CaptureServer }> {
    this.started ??= (async () => {
      const server = this.config.smtp?.host ? undefined : await startCaptureServer({ outboxDir: this.outboxDir });
      const transport = createTransport({
        host: server?.host ?? this.config.smtp?.host,
        port: server?.port ?? this.config.smtp?.port ?? 2525,
        secure: false,
        ignoreTLS: true,
        pool: true,
        maxConnections: this.config.smtp?.pool?.maxConnections ?? 5,
        maxMessages: this.config.smtp?.pool?.maxMessages ?? 100,
        // A requeue after a dropped connection could deliver twice; the router decides about retries.
        maxRequeues: 0,
        name: this.config.smtp?.ehloName ?? 'localhost',
      });
      return { transport, ...(server ? { server } : {}) };
    })();
    return this.started;
  }

  /** The capture server this adapter started, if it started one (tests and `npm start` print its port). */
  async captureServer(): Promise<CaptureServer | undefined> {
    return (await this.start()).server;
  }

  async send(prepared: PreparedMessage, _context: SendContext): Promise<AdapterSendResult> {
    const { transport } = await this.start();
    try {
      const info = await transport.sendMail({ raw: prepared.raw, envelope: prepared.envelope });
      const stored = /Stored as (\S+)/.exec(String(info.response));
      return {
        ...(stored?.[1] ? { providerMessageId: stored[1] } : {}),
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map((a: unknown) => ({
          address: String(a),
          reason: 'rejected by the capture server',
        })),
      };
    } catch (error) {
      const origin = { provider: this.provider, mode: this.mode, cause: error };
      const code = (error as { responseCode?: number }).responseCode;
      if (code && code >= 400 && code < 500) throw new TransientError(`capture server answered ${code}`, origin);
      throw new ProviderUnavailableError(`local capture inbox unreachable: ${(error as Error).message}`, origin);
    }
  }

  async verify(): Promise<void> {
    const { transport } = await this.start();
    await transport.verify();
  }

  async close(): Promise<void> {
    if (!this.started) return;
    const { transport, server } = await this.started;
    transport.close();
    await server?.close();
    this.started = undefined;
  }
}
