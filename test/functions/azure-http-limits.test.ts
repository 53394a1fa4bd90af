import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { httpLimits } from '../../core/config/http-config.ts';
import { fromAzureRequest } from '../../functions/azure/http-io.ts';

// The Azure HTTP trigger reads the request's body stream itself (functions/azure/http-io.ts): held to the body
// limit, by its Content-Length before reading it, else as it is read. The requests are the @azure/functions
// HttpRequest the host hands over.

const KiB = 1024;
const MiB = 1024 * KiB;
const limits = httpLimits({ http: { maxBodyBytes: MiB } }, {});

function azureRequest(body: Uint8Array | string, headers: Record<string, string> = {}) {
  return new HttpRequest({
    method: 'POST',
    url: 'https://mailroute-test.azurewebsites.net/v1/send',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? { string: body } : { bytes: body },
  });
}

describe('Azure HTTP trigger: the body limit', () => {
  it('a Content-Length over the limit is 413 naming the limit, and the body is never read', async () => {
    const request = azureRequest(new Uint8Array(2 * MiB), { 'content-length': String(2 * MiB) });
    const read = await fromAzureRequest(request, limits);
    expect(read).toEqual({
      refused: {
        status: 413,
        headers: { 'cache-control': 'no-store' },
        body: {
          ok: false,
          error: {
            code: 'BODY_TOO_LARGE',
            message: `the request body is ${2 * MiB} bytes (Content-Length), over the limit of ${MiB} bytes (http.maxBodyBytes)`,
            field: 'http.maxBodyBytes',
            limit: MiB,
            actual: 2 * MiB,
          },
        },
      },
    });
    expect(request.bodyUsed).toBe(false);
  });

  it('a body without Content-Length is read up to the limit, then 413', async () => {
    const read = await fromAzureRequest(azureRequest(new Uint8Array(MiB + 1).fill(0x20)), limits);
    expect(read).toMatchObject({
      refused: { status: 413, body: { error: { code: 'BODY_TOO_LARGE', field: 'http.maxBodyBytes', limit: MiB } } },
    });
  });

  it('a body within the limit is the request as the core routes it, its text intact', async () => {
    const text = JSON.stringify({ subject: 'Grüße ✓', text: 'x'.repeat(100 * KiB) });
    const read = await fromAzureRequest(
      azureRequest(text, { 'content-length': String(Buffer.byteLength(text)) }),
      limits,
    );
    expect(read).toEqual({
      request: {
        method: 'POST',
        path: '/v1/send',
        body: text,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) },
        query: {},
      },
    });
  });

  it('a Content-Length that is not a number is 400', async () => {
    const read = await fromAzureRequest(azureRequest('{}', { 'content-length': 'lots' }), limits);
    expect(read).toMatchObject({ refused: { status: 400, body: { error: { code: 'BAD_REQUEST' } } } });
  });
});
