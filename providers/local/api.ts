import type { Adapter, AdapterSendResult, Capabilities, Limits, SendContext } from '../../core/contract/adapter.ts';
import { ProviderUnavailableError } from '../../core/errors.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import type { LocalConfig } from './config.ts';
import { local } from './index.ts';
import { outboxAttachments, storeInOutbox } from './outbox.ts';

/** The local capture inbox in API mode: the composed message is written straight to the outbox. */
export class LocalApiAdapter implements Adapter {
  // The same fields as every adapter's, on purpose: the Adapter contract's identity, as data from the descriptor.
  readonly provider = 'local';
  readonly mode = 'api' as const;
  readonly capabilities: Capabilities = local.modes.api.capabilities;
  readonly limits: Limits = local.modes.api.limits;
  readonly name: string;
  private readonly outboxDir: string;

  constructor(config: LocalConfig, outboxDir: string) {
    this.name = config.name;
    this.outboxDir = outboxDir;
  }

  async send(prepared: PreparedMessage, _context: SendContext): Promise<AdapterSendResult> {
    try {
      const raw = await prepared.mime();
      const summary = await storeInOutbox(
        this.outboxDir,
        raw,
        prepared.envelope,
        'api',
        outboxAttachments(prepared.message.attachments),
      );
      return {
        providerMessageId: summary.id,
        accepted: prepared.envelope.to,
        rejected: [],
        details: { file: summary.file },
      };
    } catch (error) {
      throw new ProviderUnavailableError(`could not write to the outbox ${this.outboxDir}`, {
        provider: this.provider,
        mode: this.mode,
        cause: error,
      });
    }
  }

  async verify(): Promise<void> {}

  async close(): Promise<void> {}
}
