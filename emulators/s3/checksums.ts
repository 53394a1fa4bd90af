import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { crc32 } from 'node:zlib';
import { ServiceError } from '../common/http.ts';

/** The full-object checksums S3 verifies on upload and returns with `x-amz-checksum-mode: ENABLED`. */
const ALGORITHMS: Record<string, (data: Buffer) => string> = {
  crc32: (data) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(crc32(data));
    return out.toString('base64');
  },
  sha1: (data) => createHash('sha1').update(data).digest('base64'),
  sha256: (data) => createHash('sha256').update(data).digest('base64'),
};

/** An S3 error: its `<Code>` and HTTP status (400 by default), answered as S3's XML error body. */
export class S3Error extends ServiceError {}

/**
 * Decodes an `aws-chunked` body (`<hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0\r\n<trailers>\r\n\r\n`),
 * which the SDK sends when it streams a body with a trailing checksum. Returns the data and the trailers.
 */
export function decodeAwsChunked(body: Buffer): { data: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) throw new S3Error('IncompleteBody', 'The aws-chunked body ended before its last chunk.');
    const size = Number.parseInt(body.subarray(at, eol).toString().split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new S3Error('InvalidRequest', 'A chunk size of the aws-chunked body is invalid.');
    at = eol + 2;
    if (size === 0) break;
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
  const trailers: Record<string, string> = {};
  for (const line of body.subarray(at).toString().split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { data: Buffer.concat(parts), trailers };
}

/**
 * Checks what S3 checks on a PutObject: `x-amz-content-sha256` when it is a digest, `Content-MD5`, and any
 * `x-amz-checksum-*` header or trailer it can compute. Returns the checksums to store with the object.
 */
export function verifyUpload(data: Buffer, headers: IncomingHttpHeaders, trailers: Record<string, string>) {
  const declared = String(headers['x-amz-content-sha256'] ?? '');
  if (/^[0-9a-f]{64}$/.test(declared) && createHash('sha256').update(data).digest('hex') !== declared) {
    throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match.");
  }
  const md5 = headers['content-md5'];
  if (typeof md5 === 'string' && createHash('md5').update(data).digest('base64') !== md5) {
    throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  const checksums: Record<string, string> = {};
  for (const source of [headers, trailers]) {
    for (const [name, value] of Object.entries(source)) {
      const algorithm = /^x-amz-checksum-([a-z0-9]+)$/.exec(name)?.[1];
      if (!algorithm || algorithm === 'mode' || algorithm === 'type' || typeof value !== 'string') continue;
      const compute = ALGORITHMS[algorithm];
      // CRC32C and CRC64NVME need code Node lacks: kept as sent, not checked.
      if (compute && compute(data) !== value) {
        throw new S3Error(
          'BadDigest',
          `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
        );
      }
      checksums[algorithm] = value;
    }
  }
  return checksums;
}
