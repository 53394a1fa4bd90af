import type { IncomingMessage } from 'node:http';
import { parseHeaderBlock } from './mime-headers.ts';

export interface CappedBody {
  body: Buffer;
  /** More than the cap arrived; `body` is truncated and must not be used. */
  tooLarge: boolean;
}

/**
 * Reads the whole request but keeps at most `maxBytes`. It drains the rest instead of closing early, so the
 * client finishes sending and reads the 413 rather than failing with a reset connection.
 */
export async function readBodyCapped(req: IncomingMessage, maxBytes: number): Promise<CappedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= maxBytes) chunks.push(buffer);
  }
  return size > maxBytes ? { body: Buffer.alloc(0), tooLarge: true } : { body: Buffer.concat(chunks), tooLarge: false };
}

/** `type/subtype` in lower case, parameters dropped. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The discovery document's `mediaUpload.accept` for users.messages.send is `message/*`. */
export function isAcceptedMediaType(contentType: string | undefined): boolean {
  return /^message\/[a-z0-9.+-]+$/.test(mediaTypeOf(contentType));
}

export function boundaryOf(contentType: string | undefined): string | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return match?.[1] ?? match?.[2];
}

export interface MultipartPart {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Splits a multipart/related body (RFC 2387) as googleapis-common writes it for `uploadType=multipart`:
 * a JSON metadata part, then the media part. The CRLF before each delimiter belongs to the delimiter,
 * so part bodies come back byte for byte. Returns undefined when the body is not well formed.
 */
export function parseMultipartRelated(body: Buffer, boundary: string): MultipartPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.from(`\r\n--${boundary}`);
  let position = body.indexOf(delimiter);
  if (position === -1) return undefined;
  const parts: MultipartPart[] = [];
  for (;;) {
    position += delimiter.length;
    if (body.subarray(position, position + 2).toString() === '--') return parts;
    const lineEnd = body.indexOf('\r\n', position);
    if (lineEnd === -1) return undefined;
    const headerEnd = body.indexOf('\r\n\r\n', lineEnd);
    if (headerEnd === -1) return undefined;
    const end = body.indexOf(nextDelimiter, headerEnd + 4);
    if (end === -1) return undefined;
    const headerText = headerEnd > lineEnd ? body.subarray(lineEnd + 2, headerEnd).toString('utf8') : '';
    parts.push({ headers: parseHeaderBlock(headerText), body: body.subarray(headerEnd + 4, end) });
    position = end + 2;
  }
}
