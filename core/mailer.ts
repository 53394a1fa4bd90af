import { type Adapter, checkCapabilities, type SendContext, type SendResult } from './adapter.ts';
import { composeMessage } from './compose.ts';
import type { MailrouteConfig, ProviderConfig } from './config.ts';
import { ConfigurationError, isMailrouteError, ProviderUnavailableError } from './errors.ts';
import { normalizeMessage } from './validate.ts';

/** Builds the adapter for one provider entry. Injected, so `core/` imports nothing from `providers/`. */
export type AdapterFactory = (config: ProviderConfig, mailroute: MailrouteConfig) => Adapter;

export interface SendOptions extends SendContext {
  /** Name of the provider entry to use; default: `defaultProvider`, else the first one. */
  provider?: string;
}

export interface VerifyReport {
  name: string;
  provider: string;
  mode: string;
  ok: boolean;
  error?: Record<string, unknown>;
}

/**
 * Validates, composes once, checks the chosen adapter's capabilities and limits, and sends.
 *
 * @example
 * const mailer = new Mailer(loadConfig().config, createAdapter);
 * const result = await mailer.send({ from: 'a@example.com', to: 'b@example.com', subject: 'Hi', text: 'Hello' });
 */
export class Mailer {
  readonly config: MailrouteConfig;
  private readonly createAdapter: AdapterFactory;
  private readonly adapters = new Map<string, Adapter>();

  constructor(config: MailrouteConfig, createAdapter: AdapterFactory) {
    this.config = config;
    this.createAdapter = createAdapter;
  }

  adapter(name?: string): Adapter {
    const wanted = name ?? this.config.defaultProvider ?? this.config.providers[0]!.name;
    let adapter = this.adapters.get(wanted);
    if (!adapter) {
      const entry = this.config.providers.find((p) => p.name === wanted);
      if (!entry) {
        throw new ConfigurationError(`no provider entry is named "${wanted}"`, {
          issues: [{ path: 'provider', message: `names no provider entry (have: ${this.names().join(', ')})` }],
        });
      }
      adapter = this.createAdapter(entry, this.config);
      this.adapters.set(wanted, adapter);
    }
    return adapter;
  }

  names(): string[] {
    return this.config.providers.map((p) => p.name);
  }

  async send(input: unknown, options: SendOptions = {}): Promise<SendResult> {
    const started = performance.now();
    const message = normalizeMessage(input);
    const validateMs = performance.now() - started;
    const prepared = await composeMessage(message);
    const adapter = this.adapter(options.provider);
    checkCapabilities(prepared, adapter);
    const sendStarted = performance.now();
    let sent: Awaited<ReturnType<Adapter['send']>>;
    try {
      sent = await adapter.send(prepared, options);
    } catch (error) {
      if (isMailrouteError(error)) throw error;
      // An adapter should translate every error; one that slipped through is treated as an outage, not lost.
      throw new ProviderUnavailableError(`${adapter.name} failed: ${(error as Error).message}`, {
        provider: adapter.provider,
        mode: adapter.mode,
        cause: error,
      });
    }
    const now = performance.now();
    return {
      name: adapter.name,
      provider: adapter.provider,
      mode: adapter.mode,
      messageId: prepared.messageId,
      size: prepared.size,
      ...sent,
      ...(Object.keys(message.metadata).length ? { metadata: message.metadata } : {}),
      timings: {
        validateMs: round(validateMs),
        composeMs: round(prepared.composeMs),
        sendMs: round(now - sendStarted),
        totalMs: round(now - started),
      },
    };
  }

  /** Opens each provider (connect, TLS, AUTH) without sending, and reports each one's outcome. */
  async verify(): Promise<VerifyReport[]> {
    const reports: VerifyReport[] = [];
    for (const entry of this.config.providers) {
      const report: VerifyReport = { name: entry.name, provider: entry.provider, mode: entry.mode, ok: true };
      try {
        await this.adapter(entry.name).verify();
      } catch (error) {
        report.ok = false;
        report.error = isMailrouteError(error) ? error.toJSON() : { message: (error as Error).message };
      }
      reports.push(report);
    }
    return reports;
  }

  async close(): Promise<void> {
    await Promise.all([...this.adapters.values()].map((a) => a.close()));
    this.adapters.clear();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
