import { mkdtempSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailer } from '../../../core/mailer.ts';
import { createAdapter } from '../../../providers/index.ts';
import { type CaptureServer, startCaptureServer } from '../../../providers/local/capture-server.ts';
import { listOutbox } from '../../../providers/local/outbox.ts';

const outbox = mkdtempSync(join(tmpdir(), 'mr-quoted-'));
const mailer = new Mailer(
  { providers: [{ name: 'local', provider: 'local', mode: 'smtp' }], outboxDir: outbox },
  createAdapter,
);
afterAll(() => mailer.close());

describe('the capture server takes what providers take', () => {
  it('stores a message to "john doe"@example.org sent through the local SMTP mode', async () => {
    const result = await mailer.send({
      from: '"jane q"@example.com',
      to: ['John <"john doe"@example.org>', 'plain@example.org'],
      subject: 'Quoted',
      text: 'Hi',
    });
    expect(result.accepted.sort()).toEqual(['"john doe"@example.org', 'plain@example.org']);
    const stored = (await listOutbox(outbox)).find((m) => m.id === result.providerMessageId);
    expect(stored?.envelope).toEqual({
      from: '"jane q"@example.com',
      to: ['"john doe"@example.org', 'plain@example.org'],
    });
    const parsed = await simpleParser(readFileSync(stored!.file));
    const to = parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : [];
    expect(to.map((a) => a.address)).toEqual(['"john doe"@example.org', 'plain@example.org']);
  });
});

describe('the capture server, spoken to directly', () => {
  let server: CaptureServer;
  beforeAll(async () => {
    server = await startCaptureServer({ outboxDir: mkdtempSync(join(tmpdir(), 'mr-quoted-raw-')) });
  });
  afterAll(() => server.close());

  /** Sends each line once the previous reply has come, and returns every reply. */
  async function converse(lines: string[]): Promise<string[]> {
    const socket = createConnection(server.port, server.host);
    const replies: string[] = [];
    let buffered = '';
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          buffered += chunk.toString();
          // A complete reply: its last line has a space after the code.
          const match = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffered);
          if (!match) return;
          const end = match.index + match[0].length;
          const reply = buffered.slice(0, end).trim();
          buffered = buffered.slice(end);
          socket.off('data', onData);
          resolve(reply);
        };
        socket.on('data', onData);
        socket.once('error', reject);
      });
    replies.push(await next());
    for (const line of lines) {
      socket.write(`${line}\r\n`);
      replies.push(await next());
    }
    socket.end();
    return replies;
  }

  it('accepts quoted local parts (space, @, quoted-pair, source route) and still refuses what smtp-server refuses', async () => {
    const replies = await converse([
      'EHLO client.example',
      'MAIL FROM:<"jane q"@example.com> SIZE=100',
      'RCPT TO:<"john doe"@example.org>',
      'RCPT TO:<"a@b"@example.org>',
      'RCPT TO:<"say \\"hi\\""@example.org>',
      'RCPT TO:<@relay.example:"via route"@example.org>',
      'RCPT TO:<"john doe"@>',
      'RCPT TO:<"tab\there"@example.org>',
      'QUIT',
    ]);
    // The code of each reply's last line.
    const codes = replies.map((r) => r.split('\r\n').at(-1)!.slice(0, 3));
    expect(codes).toEqual(['220', '250', '250', '250', '250', '250', '250', '501', '501', '221']);
  });
});
