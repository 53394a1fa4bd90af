import { z } from 'zod';
import type { ProviderEntry } from '../../core/contract/provider-descriptor.ts';

/** A local capture inbox entry's own field. */
export const localFields = {
  outboxDir: z.string().optional().describe("This entry's capture directory; default the configuration's outboxDir."),
};

export type LocalConfig = ProviderEntry<typeof localFields>;

/** The capture inbox stores the message as it is: there is nothing per message to tell it. */
export const localOptions = z.object({}).strict();
