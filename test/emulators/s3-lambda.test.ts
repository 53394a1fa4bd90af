import { Readable } from 'node:stream';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaEmulator, startLambdaEmulator } from '../../emulators/lambda/index.ts';
import { type S3Emulator, startS3Emulator } from '../../emulators/s3/index.ts';
import { lambdaClient, s3Client } from '../client/aws-fixtures.ts';

// The emulators' own tests; they belong in test/emulators/ with the others (that folder is not this item's).
let s3: S3Emulator;
let lambda: LambdaEmulator;
let s3Sdk: S3Client;
let lambdaSdk: LambdaClient;

beforeAll(async () => {
  [s3, lambda] = await Promise.all([startS3Emulator(), startLambdaEmulator()]);
  s3Sdk = s3Client(s3.url);
  lambdaSdk = lambdaClient(lambda.url);
  s3.createBucket('b');
});
afterAll(async () => {
  s3Sdk.destroy();
  lambdaSdk.destroy();
  await Promise.all([s3.close(), lambda.close()]);
});

describe('S3 emulator through @aws-sdk/client-s3 with its default checksums', () => {
  it('stores a PutObject (CRC32 header checked) and answers GetObject with the checksum the SDK validates', async () => {
    await s3Sdk.send(
      new PutObjectCommand({ Bucket: 'b', Key: 'dir/a b.json', Body: '{"x":1}', ContentType: 'application/json' }),
    );
    expect(s3.keys('b')).toContain('dir/a b.json');
    const got = await s3Sdk.send(new GetObjectCommand({ Bucket: 'b', Key: 'dir/a b.json' }));
    expect(got.ChecksumCRC32).toBe(s3.object('b', 'dir/a b.json')!.checksums.crc32);
    expect(await got.Body!.transformToString()).toBe('{"x":1}');
    s3.object('b', 'dir/a b.json')!.checksums.crc32 = 'AAAAAA==';
    const corrupt = await s3Sdk.send(new GetObjectCommand({ Bucket: 'b', Key: 'dir/a b.json' }));
    await expect(corrupt.Body!.transformToString()).rejects.toThrow(/Checksum mismatch/);
  });

  it('decodes a streamed aws-chunked upload with its trailing checksum', async () => {
    const Body = Readable.from([Buffer.from('streamed '), Buffer.from('body')]);
    await s3Sdk.send(new PutObjectCommand({ Bucket: 'b', Key: 'stream', Body, ContentLength: 13 }));
    expect(s3.object('b', 'stream')!.body.toString()).toBe('streamed body');
    expect(s3.object('b', 'stream')!.checksums.crc32).toBeTruthy();
  });

  it('refuses a body whose checksum does not match, and answers S3 error codes', async () => {
    const res = await fetch(`${s3.url}/b/bad`, {
      method: 'PUT',
      body: 'hello',
      headers: { 'x-amz-checksum-crc32': 'AAAAAA==' },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>BadDigest</Code>');
    expect(s3.object('b', 'bad')).toBeUndefined();
    await expect(s3Sdk.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    await expect(s3Sdk.send(new HeadObjectCommand({ Bucket: 'b', Key: 'missing' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    await expect(s3Sdk.send(new PutObjectCommand({ Bucket: 'nope', Key: 'k', Body: 'x' }))).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
  });
});

describe('S3 emulator: bucket owner condition (x-amz-expected-bucket-owner)', () => {
  it("answers 403 AccessDenied when the bucket is another account's, and reads or writes nothing", async () => {
    s3.createBucket('owned', { owner: '444455556666' });
    const ours = { Bucket: 'owned', Key: 'k', ExpectedBucketOwner: '444455556666' };
    const theirs = { ...ours, ExpectedBucketOwner: s3.accountId };
    await s3Sdk.send(new PutObjectCommand({ ...ours, Body: 'mine' }));
    expect(await (await s3Sdk.send(new GetObjectCommand(ours))).Body!.transformToString()).toBe('mine');
    await expect(s3Sdk.send(new GetObjectCommand(theirs))).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    // HEAD answers with the status alone, as S3 does.
    await expect(s3Sdk.send(new HeadObjectCommand(theirs))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
    await expect(s3Sdk.send(new PutObjectCommand({ ...theirs, Body: 'overwritten' }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    expect(s3.object('owned', 'k')!.body.toString()).toBe('mine');
    expect(s3.requests.filter((r) => r.bucket === 'owned').map((r) => [r.method, r.status, r.bytesServed])).toEqual([
      ['PUT', 200, 0],
      ['GET', 200, 4],
      ['GET', 403, 0],
      ['HEAD', 403, 0],
      ['PUT', 403, 0],
    ]);
  });

  it('gives a bucket created over HTTP, or without an owner, to the emulator account', async () => {
    await fetch(`${s3.url}/made-over-http`, { method: 'PUT' });
    s3.createBucket('made-here');
    for (const Bucket of ['made-over-http', 'made-here']) {
      const put = { Bucket, Key: 'k', Body: 'x', ExpectedBucketOwner: s3.accountId };
      await expect(s3Sdk.send(new PutObjectCommand(put))).resolves.toBeDefined();
    }
    expect(s3.accountId).toMatch(/^\d{12}$/);
  });
});

describe('Lambda Invoke emulator through @aws-sdk/client-lambda', () => {
  const invoke = (input: ConstructorParameters<typeof InvokeCommand>[0]) => lambdaSdk.send(new InvokeCommand(input));
  const text = (payload?: Uint8Array) => Buffer.from(payload ?? []).toString();

  it('runs the handler with the parsed event; names, aliases and ARNs reach the same function', async () => {
    lambda.register('echo', (event, context) => ({ event, name: context.functionName }));
    const out = await invoke({ FunctionName: 'echo', Payload: '{"a":1}' });
    expect(out.StatusCode).toBe(200);
    expect(JSON.parse(text(out.Payload))).toEqual({ event: { a: 1 }, name: 'echo' });
    await invoke({ FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:echo:live', Payload: '{}' });
    expect(lambda.invocations.at(-1)).toMatchObject({ functionName: 'echo', qualifier: 'live' });
  });

  it('answers a thrown error as Lambda does: 200, X-Amz-Function-Error, errorType and errorMessage', async () => {
    lambda.register('fails', () => {
      throw new TypeError('bad input');
    });
    const out = await invoke({ FunctionName: 'fails', Payload: '{}' });
    expect(out).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled' });
    expect(JSON.parse(text(out.Payload))).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input' });
  });

  it('Event answers 202 and DryRun 204; a missing function, bad JSON and an oversize request are refused', async () => {
    expect((await invoke({ FunctionName: 'echo', InvocationType: 'Event', Payload: '{}' })).StatusCode).toBe(202);
    expect((await invoke({ FunctionName: 'echo', InvocationType: 'DryRun' })).StatusCode).toBe(204);
    await expect(invoke({ FunctionName: 'ghost', Payload: '{}' })).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(invoke({ FunctionName: 'echo', Payload: 'not json' })).rejects.toMatchObject({
      name: 'InvalidRequestContentException',
    });
    await expect(invoke({ FunctionName: 'echo', Payload: `"${'x'.repeat(6_291_456)}"` })).rejects.toMatchObject({
      name: 'RequestTooLargeException',
      $metadata: { httpStatusCode: 413 },
    });
  });
});
