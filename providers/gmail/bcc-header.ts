import type { MailAddress } from '../../core/message/address.ts';

/**
 * The composed MIME carries Bcc in the envelope only, but Gmail has no envelope: users.messages.send takes its
 * recipients from the To, Cc and Bcc headers and strips Bcc before delivery. So Gmail gets the same bytes with
 * one Bcc field added in front (addresses only: the field never reaches a recipient, so names need no encoding).
 */
export function withBccHeader(raw: Buffer, bcc: MailAddress[]): Buffer {
  if (bcc.length === 0) return raw;
  // One address per folded line keeps every line far below the 998-character limit of RFC 5322.
  const field = `Bcc: ${bcc.map((a) => a.address).join(',\r\n ')}\r\n`;
  return Buffer.concat([Buffer.from(field, 'utf8'), raw]);
}
