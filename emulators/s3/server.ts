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
 *
 * Every bucket has an owner (an account id: the emulator's `accountId` for one created over HTTP). A request
 * carrying `x-amz-expected-bucket-owner` (the SDK's `ExpectedBucketOwner`) on a bucket owned by another account
 * is answered 403 `AccessDenied`, as S3's bucket owner condition does, and nothing is read or written.
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

/** One request as the emulator answered it, in arrival order: what a test asserts was (or was not) asked. */
export interface S3Request {
  method: string;
  bucket: string;
  key: string;
  status: number;
  /** Object bytes written in the answer's body (a GET's object; 0 for HEAD and errors). */
  bytesServed: number;
  /** The `x-amz-expected-bucket-owner` header, when the request had one. */
  expectedBucketOwner?: string;
}

export interface S3Emulator {
  url: string;
  /** The account that owns buckets created over HTTP, and by `createBucket` without an owner. */
  accountId: string;
  /** Creates a bucket (no-op when it exists), owned by `owner` (default `accountId`). */
  createBucket(name: string, options?: { owner?: string }): void;
  /** Stores an object as it is, without an upload (a large object for a test, in one allocation). */
  putObject(bucket: string, key: string, body: Buffer | string, contentType?: string): void;
  /** An object as stored, or undefined. */
  object(bucket: string, key: string): S3Object | undefined;
  /** Keys in a bucket, sorted. */
  keys(bucket: string): string[];
  /** Every request answered since the start (or since a test emptied it). */
  requests: S3Request[];
  faults: FaultPlan;
  close(): Promise<void>;
}

/** The default owner of the emulator's buckets: the account id the AWS docs use in their examples. */
const DEFAULT_ACCOUNT_ID = '111122223333';

export async function startS3Emulator(
  options: { host?: string; port?: number; accountId?: string } = {},
): Promise<S3Emulator> {
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const buckets = new Map<string, { owner: string; objects: Map<string, S3Object> }>();
  const requests: S3Request[] = [];
  const faults = new FaultPlan();
  const bucketOf = (name: string, req: IncomingMessage) => {
    const bucket = buckets.get(name);
    if (!bucket) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
    const expected = req.headers['x-amz-expected-bucket-owner'];
    if (expected !== undefined && expected !== bucket.owner) throw new S3Error('AccessDenied', 'Access Denied', 403);
    return bucket.objects;
  };

  /** Answers one request; the object bytes it wrote, or undefined when a fault left it unanswered. */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number | undefined> {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [bucketName = '', ...rest] = url.pathname.slice(1).split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const raw = await readBody(req);
    const fault = faults.take(url.pathname);
    if (fault) {
      if (await playLatencyAndDrop(fault, req, res)) return undefined;
      if (fault.status) {
        const code = fault.errorCode ?? (fault.status === 503 ? 'SlowDown' : 'InternalError');
        throw new S3Error(code, fault.message ?? 'Injected fault.', fault.status);
      }
    }
    if (!bucketName) throw new S3Error('NotImplemented', 'ListBuckets is not emulated.', 501);
    if (!key) {
      if (req.method !== 'PUT') throw new S3Error('NotImplemented', `${req.method} on a bucket is not emulated.`, 501);
      if (!buckets.has(bucketName)) buckets.set(bucketName, { owner: accountId, objects: new Map() });
      res.writeHead(200, { location: `/${bucketName}`, 'x-amz-request-id': randomUUID() });
      res.end();
      return 0;
    }
    const bucket = bucketOf(bucketName, req);
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
      res.end();
      return 0;
    }
    if (req.method === 'DELETE') {
      bucket.delete(key);
      res.writeHead(204, { 'x-amz-request-id': randomUUID() });
      res.end();
      return 0;
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
    return req.method === 'HEAD' ? 0 : object.body.length;
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://s3').pathname;
    const [bucket = '', ...rest] = path.slice(1).split('/');
    const owner = req.headers['x-amz-expected-bucket-owner'];
    const log = (status: number, bytesServed: number) =>
      requests.push({
        method: req.method ?? 'GET',
        bucket,
        key: rest.map(safeDecode).join('/'),
        status,
        bytesServed,
        ...(typeof owner === 'string' ? { expectedBucketOwner: owner } : {}),
      });
    // A request a fault left unanswered (hung until the client gave up, or dropped) is logged with status 0.
    handle(req, res).then(
      (served) => log(served === undefined ? 0 : res.statusCode, served ?? 0),
      (error: Error) => {
        const e = error instanceof S3Error ? error : new S3Error('InternalError', error.message, 500);
        log(e.status, 0);
        const requestId = randomUUID();
        res.writeHead(e.status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId });
        // S3 answers a HEAD error with its status only: there is no body to carry the code.
        if (req.method === 'HEAD') return res.end();
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${escapeXml(e.message)}</Message>` +
            `<RequestId>${requestId}</RequestId></Error>`,
        );
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    accountId,
    createBucket: (name, { owner = accountId } = {}) => {
      if (!buckets.has(name)) buckets.set(name, { owner, objects: new Map() });
    },
    putObject: (bucket, key, body, contentType = 'application/json') => {
      const objects = buckets.get(bucket)?.objects;
      if (!objects) throw new Error(`no bucket ${bucket}: create it first`);
      const data = typeof body === 'string' ? Buffer.from(body) : body;
      const etag = `"${createHash('md5').update(data).digest('hex')}"`;
      objects.set(key, { body: data, contentType, etag, checksums: {}, metadata: {}, lastModified: new Date() });
    },
    object: (bucket, key) => buckets.get(bucket)?.objects.get(key),
    keys: (bucket) => [...(buckets.get(bucket)?.objects.keys() ?? [])].sort(),
    requests,
    faults,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function checksumHeaders(checksums: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(checksums).map(([algorithm, value]) => [`x-amz-checksum-${algorithm}`, value]),
  );
}

/** A key segment decoded, or as it came when it is not valid percent-encoding (logged, never answered). */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
