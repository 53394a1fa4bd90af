import type { MailAddress } from './address.ts';
import type { NormalizedMessage } from './message.ts';

/** Every recipient of a message: To, Cc, then Bcc. Here rather than in message.ts, so it needs no schema. */
export function allRecipients(m: NormalizedMessage): MailAddress[] {
  return [...m.to, ...m.cc, ...m.bcc];
}
