import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { decodeAwsChunked, S3Error, verifyUpload } from './checksums.ts';

/**
 * Amazon S3's REST API, path-style (`/{bucket}/{key}`), as `@aws-sdk/client-s3` speaks it with
 * `forcePathStyle: true`: CreateBucket, PutObject, GetObject, HeadObject, DeleteObject. It checks what S3 checks
 * on upload (`x-amz-content-sha256`, `Content-MD5`, `x-amz-checksum-crc32|sha1|sha256`, `aws-chunked` bodies
 * with a trailing checksum) and returns the stored checksum when asked (`x-amz-checksum-mode: ENABLED`), so the
 * SDK's default checksum behaviour works unchanged. Errors are S3's XML. No signature check, no listing.
 */
export interface S3Object {
  body: Buffer;
  contentType: string;
  etag: string;
  /** Full-object checksums by algorithm (`crc32`, `sha256`, ...), base64, as the client declared them. */
  checksums: Record<string, string>;
  metadata: Record<string, string>;
  lastModified: Date;
}

export interface S3Emulator {
  url: string;
  createBucket(name: string): void;
  /** An object as stored, or undefined. */
  object(bucket: string, key: string): S3Object | undefined;
  /** Keys in a bucket, sorted. */
  keys(bucket: string): string[];
  faults: FaultPlan;
  close(): Promise<void>;
}

export async function startS3Emulator(options: { host?: string; port?: number } = {}): Promise<S3Emulator> {
  const buckets = new Map<string, Map<string, S3Object>>();
  const faults = new FaultPlan();
  const bucketOf = (name: string) => {
    const bucket = buckets.get(name);
    if (!bucket) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
    return bucket;
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [bucketName = '', ...rest] = url.pathname.slice(1).split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const raw = await readBody(req);
    const fault = faults.take(url.pathname);
    if (fault) {
      if (await playLatencyAndDrop(fault, req, res)) return;
      if (fault.status) {
        const code = fault.errorCode ?? (fault.status === 503 ? 'SlowDown' : 'InternalError');
        throw new S3Error(code, fault.message ?? 'Injected fault.', fault.status);
      }
    }
    if (!bucketName) throw new S3Error('NotImplemented', 'ListBuckets is not emulated.', 501);
    if (!key) {
      if (req.method !== 'PUT') throw new S3Error('NotImplemented', `${req.method} on a bucket is not emulated.`, 501);
      if (!buckets.has(bucketName)) buckets.set(bucketName, new Map());
      res.writeHead(200, { location: `/${bucketName}`, 'x-amz-request-id': randomUUID() });
      return res.end();
    }
    const bucket = bucketOf(bucketName);
    if (req.method === 'PUT') {
      const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked');
      const { data, trailers } = chunked ? decodeAwsChunked(raw) : { data: raw, trailers: {} };
      const checksums = verifyUpload(data, req.headers, trailers);
      const metadata = Object.fromEntries(
        Object.entries(req.headers)
          .filter(([name]) => name.startsWith('x-amz-meta-'))
          .map(([name, value]) => [name.slice(11), String(value)]),
      );
      const etag = `"${createHash('md5').update(data).digest('hex')}"`;
      const contentType = String(req.headers['content-type'] ?? 'application/octet-stream');
      bucket.set(key, { body: data, contentType, etag, checksums, metadata, lastModified: new Date() });
      res.writeHead(200, { etag, ...checksumHeaders(checksums), 'x-amz-request-id': randomUUID() });
      return res.end();
    }
    if (req.method === 'DELETE') {
      bucket.delete(key);
      res.writeHead(204, { 'x-amz-request-id': randomUUID() });
      return res.end();
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
    }
    const object = bucket.get(key);
    if (!object) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
    const wantsChecksum = String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED';
    res.writeHead(200, {
      'content-type': object.contentType,
      'content-length': object.body.length,
      etag: object.etag,
      'last-modified': object.lastModified.toUTCString(),
      ...(wantsChecksum ? { ...checksumHeaders(object.checksums), 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
      ...Object.fromEntries(Object.entries(object.metadata).map(([k, v]) => [`x-amz-meta-${k}`, v])),
      'x-amz-request-id': randomUUID(),
    });
    res.end(req.method === 'HEAD' ? undefined : object.body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      const e = error instanceof S3Error ? error : new S3Error('InternalError', error.message, 500);
      const requestId = randomUUID();
      res.writeHead(e.status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId });
      // S3 answers a HEAD error with its status only: there is no body to carry the code.
      if (req.method === 'HEAD') return res.end();
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${escapeXml(e.message)}</Message>` +
          `<RequestId>${requestId}</RequestId></Error>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    createBucket: (name) => {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    object: (bucket, key) => buckets.get(bucket)?.get(key),
    keys: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    faults,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function checksumHeaders(checksums: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(checksums).map(([algorithm, value]) => [`x-amz-checksum-${algorithm}`, value]),
  );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
