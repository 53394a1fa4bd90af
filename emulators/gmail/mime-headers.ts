/**
 * Header fields of a header block, names lower-cased and folded lines joined. The first occurrence of a
 * name wins: tests look at From/To/Subject/Message-ID, which appear once, not at trace fields like Received.
 * Values are not RFC 2047-decoded, so a test sees exactly what the client wrote.
 */
export function parseHeaderBlock(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  let name: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && name !== undefined) {
      headers[name] = `${headers[name]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      name = undefined;
      continue;
    }
    const field = line.slice(0, colon).trim().toLowerCase();
    if (field in headers) {
      name = undefined;
      continue;
    }
    name = field;
    headers[field] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The top-level header fields of a MIME message (UTF-8 allowed, as message/global permits). */
export function parseMimeHeaders(raw: Buffer): Record<string, string> {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  const end = ends.length > 0 ? Math.min(...ends) : raw.length;
  return parseHeaderBlock(raw.subarray(0, end).toString('utf8'));
}

/** The Message-ID without its angle brackets, or undefined when the message has none. */
export function messageIdOf(headers: Record<string, string>): string | undefined {
  const value = headers['message-id']?.trim();
  if (!value) return undefined;
  return value.replace(/^<(.*)>$/, '$1');
}
