import type { Adapter, AdapterSendResult, SendContext } from '../../core/adapter.ts';
import { ALL_CAPABILITIES } from '../../core/adapter.ts';
import type { PreparedMessage } from '../../core/compose.ts';
import { ProviderUnavailableError } from '../../core/errors.ts';
import { storeInOutbox } from './outbox.ts';
import { LOCAL_LIMITS, type LocalProviderConfig } from './shared.ts';

/** The local capture inbox in API mode: the composed message is written straight to the outbox. */
export class LocalApiAdapter implements Adapter {
  readonly provider = 'local';
  readonly mode = 'api' as const;
  readonly capabilities = ALL_CAPABILITIES;
  readonly limits = LOCAL_LIMITS;
  readonly name: string;
  private readonly outboxDir: string;

  constructor(config: LocalProviderConfig, outboxDir: string) {
    this.name = config.name;
    this.outboxDir = outboxDir;
  }

  async send(prepared: PreparedMessage, _context: SendContext): Promise<AdapterSendResult> {
    try {
      const summary = await storeInOutbox(this.outboxDir, await prepared.mime(), prepared.envelope, 'api');
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
