import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import { SmtpEngine, type SmtpEngineOptions } from './engine.ts';

export interface SmtpAdapterSpec {
  name: string;
  provider: string;
  capabilities: Capabilities;
  limits: Limits;
  engine: SmtpEngineOptions;
  /** Header lines put in front of the composed message (SES's configuration set and tags). */
  headersFor?: (prepared: PreparedMessage) => string[];
  /** The provider's own message id, read from its final reply. */
  messageIdFrom?: (response: string) => string | undefined;
}

/**
 * An SMTP-mode adapter: the shared engine plus what one provider declares. Each provider's `smtp.ts` only
 * builds the spec (host, credentials, limits, reply rules).
 */
export class SmtpAdapter implements Adapter {
  readonly mode = 'smtp' as const;
  readonly name: string;
  readonly provider: string;
  readonly capabilities: Capabilities;
  readonly limits: Limits;
  readonly engine: SmtpEngine;
  private readonly spec: SmtpAdapterSpec;

  constructor(spec: SmtpAdapterSpec) {
    this.spec = spec;
    this.name = spec.name;
    this.provider = spec.provider;
    this.capabilities = spec.capabilities;
    this.limits = spec.limits;
    this.engine = new SmtpEngine(spec.engine);
  }

  async send(prepared: PreparedMessage, context: SendContext): Promise<AdapterSendResult> {
    const lines = this.spec.headersFor?.(prepared) ?? [];
    const mime = await prepared.mime();
    const raw = lines.length ? prependHeaders(mime, lines) : mime;
    const delivery = await this.engine.send(raw, prepared.envelope, context);
    const providerMessageId = this.spec.messageIdFrom?.(delivery.response);
    return {
      ...(providerMessageId ? { providerMessageId } : {}),
      accepted: delivery.accepted,
      rejected: delivery.rejected,
      details: { response: delivery.response },
    };
  }

  verify(context?: SendContext): Promise<void> {
    return this.engine.verify(context);
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

/** Header lines go on top of the composed message as they are: the message is never composed twice. */
export function prependHeaders(raw: Buffer, lines: string[]): Buffer {
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n`), raw]);
}

export { configuredLimits } from '../../core/contract/adapter.ts';
export { SMTP_CAPABILITIES } from './capabilities.ts';
