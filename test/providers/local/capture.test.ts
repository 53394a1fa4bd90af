import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { Mailer } from '../../../core/mailer.ts';
import { createAdapter } from '../../../providers/index.ts';
import { listOutbox } from '../../../providers/local/outbox.ts';
import type { LocalSmtpAdapter } from '../../../providers/local/smtp.ts';

const outbox = mkdtempSync(join(tmpdir(), 'mr-capture-'));
const mailer = new Mailer(
  { providers: [{ name: 'local', provider: 'local', mode: 'smtp' }], outboxDir: outbox },
  createAdapter,
);
afterAll(() => mailer.close());

describe('local capture inbox in SMTP mode', () => {
  it('sends over a real socket to the embedded SMTP server and stores .eml and .json', async () => {
    const logo = Buffer.from('89504e470d0a1a0a', 'hex');
    const result = await mailer.send({
      from: 'Shop <shop@bücher.example>',
      to: ['"Doe, Jane" <jane@example.com>'],
      cc: 'carol@example.com',
      bcc: 'audit@example.com',
      replyTo: 'help@example.com',
      subject: 'Your order ✓',
      text: 'Thanks!',
      html: '<p>Thanks! <img src="cid:logo"></p>',
      attachments: [
        { filename: 'invoice.txt', content: Buffer.from('total: 42').toString('base64') },
        { filename: 'logo.png', contentType: 'image/png', content: logo.toString('base64'), contentId: 'logo' },
      ],
      headers: { 'X-Order': '42' },
    });
    const adapter = (await mailer.adapter()) as LocalSmtpAdapter;
    expect((await adapter.captureServer())?.port).toBeGreaterThan(0);
    expect(result.accepted.sort()).toEqual(['audit@example.com', 'carol@example.com', 'jane@example.com']);
    const [summary] = await listOutbox(outbox);
    expect(summary).toMatchObject({
      id: result.providerMessageId,
      via: 'smtp',
      subject: 'Your order ✓',
      messageId: result.messageId,
    });
    expect(summary!.envelope.to.sort()).toEqual(['audit@example.com', 'carol@example.com', 'jane@example.com']);
    const parsed = await simpleParser(readFileSync(summary!.file));
    expect(parsed.subject).toBe('Your order ✓');
    expect(readFileSync(summary!.file, 'latin1')).toMatch(/^From: Shop <shop@xn--bcher-kva\.example>\r$/m);
    expect(parsed.bcc).toBeUndefined();
    expect(parsed.headers.get('x-order')).toBe('42');
    expect(parsed.text?.trim()).toBe('Thanks!');
    const inline = parsed.attachments.find((a) => a.cid === 'logo');
    expect(inline?.content.equals(logo)).toBe(true);
    expect(parsed.attachments.find((a) => a.filename === 'invoice.txt')?.content.toString()).toBe('total: 42');
    // The summary is read from the MIME as a stream (attachments counted, not held): the same as a whole parse.
    expect(summary).toMatchObject({
      from: parsed.from?.value[0]?.address,
      fromName: 'Shop',
      to: ['jane@example.com'],
      cc: ['carol@example.com'],
      attachments: parsed.attachments.map((a) => ({
        ...(a.filename ? { filename: a.filename } : {}),
        contentType: a.contentType,
        size: a.size,
        ...(a.cid ? { contentId: a.cid } : {}),
      })),
    });
    const byName = Object.fromEntries(summary!.attachments.map((a) => [a.filename, a]));
    expect(byName['invoice.txt']).toEqual({ filename: 'invoice.txt', contentType: 'text/plain', size: 9 });
    expect(byName['logo.png']).toEqual({ filename: 'logo.png', contentType: 'image/png', size: 8, contentId: 'logo' });
  });

  it('verifies by opening a connection', async () => {
    await expect(mailer.verify()).resolves.toEqual([{ name: 'local', provider: 'local', mode: 'smtp', ok: true }]);
  });
});

describe('local capture inbox in API mode', () => {
  it('writes the attachments the message had into the summary, as a parse of the stored MIME reads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-capture-api-'));
    const api = new Mailer(
      { providers: [{ name: 'local', provider: 'local', mode: 'api' }], outboxDir: dir },
      createAdapter,
    );
    try {
      await api.send({
        from: 'Shop <shop@example.com>',
        to: 'jane@example.com',
        cc: ['Carol <carol@example.com>'],
        subject: 'Inline and attached',
        html: '<p><img src="cid:logo"></p>',
        attachments: [
          { filename: 'notes.csv', content: Buffer.from('a,b\n1,2\n').toString('base64') },
          {
            filename: 'logo.png',
            content: Buffer.from('89504e470d0a1a0a', 'hex').toString('base64'),
            contentId: 'logo',
          },
        ],
      });
      const [summary] = await listOutbox(dir);
      const parsed = await simpleParser(readFileSync(summary!.file));
      expect(summary).toMatchObject({
        from: 'shop@example.com',
        fromName: 'Shop',
        to: ['jane@example.com'],
        cc: ['carol@example.com'],
      });
      expect(summary!.subject).toBe(parsed.subject);
      expect(summary!.messageId).toBe(parsed.messageId);
      const fromMime = parsed.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        size: a.size,
        ...(a.cid ? { contentId: a.cid } : {}),
      }));
      const byName = (list: { filename?: string }[]) =>
        [...list].sort((a, b) => String(a.filename).localeCompare(String(b.filename)));
      expect(byName(summary!.attachments)).toEqual(byName(fromMime));
    } finally {
      await api.close();
    }
  });
});
