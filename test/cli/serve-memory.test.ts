import { mkdtempSync, readdirSync } from 'node:fs';
import { type ClientRequest, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { inflightBudget } from '../../core/runtime/http-body.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// `serve` holds request bodies to its limits before reading them: here 1 MiB bodies and 1.5 MiB in flight, so that
// one body of nearly 1 MiB leaves no room for a second. Real requests over loopback; requests are held in flight by
// their clients (`Expect: 100-continue`: the server asks for the body only once it has reserved its share).

const KiB = 1024;
const MiB = 1024 * KiB;
const http = { maxBodyBytes: MiB, maxInflightBytes: 1.5 * MiB };
const budget = inflightBudget(http.maxInflightBytes);
const outbox = mkdtempSync(join(tmpdir(), 'mr-serve-memory-'));
let mailer: Mailer;
let api: LocalApi;

beforeAll(async () => {
  const config = validateConfig({
    providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: outbox }],
    http,
  });
  mailer = new Mailer(config, createAdapter, { providers: builtInProviders });
  api = await startLocalApi(mailer, { inbox: false });
});
afterAll(async () => {
  await api.close();
  await mailer.close();
});

/** A message whose JSON is exactly `bytes` long (an attachment fills it). */
function messageOf(bytes: number, subject: string): string {
  const bare = JSON.stringify({
    from: 'a@example.com',
    to: 'b@example.com',
    subject,
    text: 'Hello',
    attachments: [{ filename: 'fill.bin', content: '' }],
  });
  const room = Math.floor((bytes - bare.length) / 4) * 4;
  const text = bare.replace('"content":""', `"content":"${'A'.repeat(room)}"`);
  return text.replace('"text":"Hello"', `"text":"Hello${' '.repeat(bytes - text.length)}"`);
}

const sentCount = () => readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;

/** Resolves when the last reservation is released (the budget's own event). */
function idleBudget(): Promise<void> {
  return new Promise((resolve) => {
    const stop = budget.onIdle(() => {
      stop();
      resolve();
    });
  });
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: { ok: boolean; error?: Record<string, unknown>; result?: unknown };
}

/** A POST whose headers are sent now and whose body the test writes when it wants. */
function open(headers: Record<string, string>) {
  const req: ClientRequest = httpRequest(`${api.url}/v1/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
  });
  let continued = false;
  const asked = new Promise<void>((resolve) => req.once('continue', resolve)).then(() => {
    continued = true;
  });
  // Writes after the server has closed the connection fail (EPIPE): the answer has come by then.
  const errors: Error[] = [];
  req.on('error', (error) => errors.push(error));
  const answer = new Promise<Answer>((resolve) => {
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
    });
  });
  req.flushHeaders();
  return { req, answer, asked, continued: () => continued, errors };
}

/**
 * Writes 16 KiB chunks (spaces, which JSON allows) as fast as the connection takes them until the server answers;
 * the answer. A server that read on for 64 MiB would fail the test.
 */
async function pour(call: ReturnType<typeof open>): Promise<Answer> {
  let answered = false;
  call.answer.then(() => {
    answered = true;
  });
  const chunk = Buffer.alloc(16 * KiB, 0x20);
  for (let written = 0; !answered && call.errors.length === 0 && !call.req.destroyed; written += chunk.length) {
    if (written > 64 * MiB) throw new Error('the server read on past its limits');
    if (call.req.write(chunk)) continue;
    await new Promise<void>((resolve) => {
      const done = () => {
        call.req.off('drain', done);
        call.req.off('close', done);
        resolve();
      };
      call.req.on('drain', done);
      call.req.on('close', done);
    });
  }
  return call.answer;
}

/** A whole request, its body sent once the server asks for it. */
async function send(body: string): Promise<Answer> {
  const call = open({ 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' });
  call.asked.then(() => call.req.end(body));
  return call.answer;
}

describe('serve: a body over the limit', () => {
  it('is refused by its Content-Length before it is sent: 413 naming the limit, no 100 Continue, connection closed', async () => {
    const call = open({ 'content-length': String(59 * 1000 * 1000), expect: '100-continue' });
    const answer = await call.answer;
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toEqual({
      ok: false,
      error: {
        code: 'BODY_TOO_LARGE',
        message: `the request body is 59000000 bytes (Content-Length), over the limit of ${MiB} bytes (http.maxBodyBytes)`,
        field: 'http.maxBodyBytes',
        limit: MiB,
        actual: 59_000_000,
      },
    });
    expect(call.continued()).toBe(false);
    call.req.destroy();
    expect(budget.inFlight).toBe(0);
  });

  it('without Expect: the 413 comes while the client has sent its headers alone', async () => {
    const call = open({ 'content-length': String(59 * 1000 * 1000) });
    const answer = await call.answer;
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    // Not a byte of the body: the headers are all the socket carried.
    expect(call.req.socket?.bytesWritten).toBeLessThan(1024);
    call.req.destroy();
  });

  it('without Content-Length (chunked) is cut at the limit: 413 with the bytes taken, connection closed', async () => {
    const call = open({ 'transfer-encoding': 'chunked' });
    const answer = await pour(call);
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    const error = answer.body.error as { code: string; message: string; limit: number; actual: number };
    expect(error).toMatchObject({ code: 'BODY_TOO_LARGE', field: 'http.maxBodyBytes', limit: MiB });
    expect(error.actual).toBeGreaterThan(MiB);
    expect(error.actual).toBeLessThanOrEqual(MiB + 64 * KiB);
    expect(error.message).toBe(
      `the request body was cut at ${error.actual} bytes, over the limit of ${MiB} bytes (http.maxBodyBytes)`,
    );
    call.req.destroy();
    expect(budget.inFlight).toBe(0);
  });
});

describe('serve: the in-flight budget', () => {
  it('a body the budget has no room for is refused 503 with Retry-After before it is sent; taken once the other ends', async () => {
    const before = sentCount();
    const held = open({ 'content-length': String(MiB - KiB), expect: '100-continue' });
    await held.asked;
    // Reserved before the server asked for the body.
    expect(budget.inFlight).toBe(MiB - KiB);

    const refused = open({ 'content-length': String(MiB - KiB), expect: '100-continue' });
    const answer = await refused.answer;
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.headers.connection).toBe('close');
    expect(answer.body.error).toMatchObject({
      code: 'SERVER_BUSY',
      field: 'http.maxInflightBytes',
      limit: 1.5 * MiB,
      inFlight: MiB - KiB,
      actual: MiB - KiB,
    });
    expect(refused.continued()).toBe(false);
    refused.req.destroy();

    // A small message still fits beside the one held.
    expect((await send(messageOf(8 * KiB, 'small beside'))).status).toBe(200);

    held.req.end(messageOf(MiB - KiB, 'held'));
    expect((await held.answer).status).toBe(200);
    // Released before the answer went out.
    expect(budget.inFlight).toBe(0);
    expect((await send(messageOf(MiB - KiB, 'after'))).status).toBe(200);
    expect(sentCount() - before).toBe(3);
  });

  it('a chunked body is reserved as it arrives: past the budget, 503 SERVER_BUSY', async () => {
    const held = open({ 'content-length': String(MiB - KiB), expect: '100-continue' });
    await held.asked;
    const call = open({ 'transfer-encoding': 'chunked' });
    const answer = await pour(call);
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.body.error).toMatchObject({ code: 'SERVER_BUSY', field: 'http.maxInflightBytes' });
    const idle = idleBudget();
    call.req.destroy();
    held.req.destroy();
    await idle;
    expect(budget.inFlight).toBe(0);
  });

  it('a client that goes away mid-body releases its share, and nothing is sent', async () => {
    const before = sentCount();
    const idle = idleBudget();
    const body = messageOf(MiB - KiB, 'abandoned');
    const held = open({ 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' });
    await held.asked;
    expect(budget.inFlight).toBe(MiB - KiB);
    await new Promise<void>((resolve) => held.req.write(body.slice(0, 256 * KiB), () => resolve()));
    held.req.destroy();
    await idle;
    expect(budget.inFlight).toBe(0);
    // Had its share stayed reserved, this one would not fit (2 × 1023 KiB > 1.5 MiB).
    expect((await send(messageOf(MiB - KiB, 'next'))).status).toBe(200);
    expect(sentCount() - before).toBe(1);
  });
});

describe('serve: the limits read from the environment', () => {
  it('a wrong MAILROUTE_HTTP_MAX_BODY_BYTES stops serve before it listens, naming the variable', async () => {
    vi.stubEnv('MAILROUTE_HTTP_MAX_BODY_BYTES', '48MB');
    try {
      await expect(startLocalApi(mailer, { inbox: false })).rejects.toMatchObject({
        code: 'CONFIGURATION',
        issues: [
          { path: 'MAILROUTE_HTTP_MAX_BODY_BYTES', message: '"48MB" must be a whole number of bytes, at least 65536' },
        ],
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
