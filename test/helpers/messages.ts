import type { MessageInput } from '../../core/message/message.ts';

/** A 1x1 transparent PNG. */
export const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);
export const REPORT_PDF = Buffer.from('%PDF-1.4\n% a tiny test document\n%%EOF\n');

/** Every part a provider may carry: cc, bcc, reply-to, text and html, an attachment, an inline image, a header. */
export function richMessage(overrides: Partial<MessageInput> = {}): MessageInput {
  return {
    from: { name: 'Mailroute Tests', address: 'sender@example.com' },
    to: ['Ann <ann@example.net>', 'bob@example.org'],
    cc: 'carol@example.net',
    bcc: 'dave@example.org',
    replyTo: 'replies@example.com',
    subject: 'Quarterly report ✓',
    text: 'The report is attached.',
    html: '<p>The report is attached.</p><img src="cid:logo@mailroute.test">',
    attachments: [
      { filename: 'report.pdf', contentType: 'application/pdf', content: REPORT_PDF.toString('base64') },
      {
        filename: 'logo.png',
        contentType: 'image/png',
        content: PIXEL_PNG.toString('base64'),
        contentId: 'logo@mailroute.test',
      },
    ],
    headers: { 'X-Campaign-Ref': 'q3-2026' },
    ...overrides,
  };
}

/** A small message with the given recipients. */
export function plainMessage(to: string[] = ['ann@example.net']): MessageInput {
  return { from: 'sender@example.com', to, subject: 'Hello', text: 'Hello there.' };
}
