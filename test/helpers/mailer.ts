import { type AddressObject, simpleParser } from 'mailparser';
import { expect } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { PIXEL_PNG, REPORT_PDF } from './messages.ts';
import { TEST_CA, type TestSmtpServer } from './smtp-test-server.ts';

/** A mailer with one provider entry, validated like a real configuration and built by the real factory. */
export function mailerFor(entry: Record<string, unknown>): Mailer {
  const providers = builtInProviders;
  return new Mailer(validateConfig({ providers: [entry] }, 'test', providers), createAdapter, { providers });
}

/** The `smtp` settings that point a provider at a test server, trusting its certificate explicitly. */
export function smtpAt(server: TestSmtpServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: server.host, port: server.port, ca: TEST_CA, servername: 'localhost', ...extra };
}

const addresses = (value: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(value) ? value : value ? [value] : []).flatMap((a) => a.value.map((v) => v.address));

/** Checks every part of `richMessage()` as a receiver parses it; returns the parsed message for more checks. */
export async function expectRichMime(raw: Buffer) {
  const parsed = await simpleParser(raw, { keepCidLinks: true });
  expect(parsed.subject).toBe('Quarterly report ✓');
  expect(parsed.from?.value[0]).toEqual({ name: 'Mailroute Tests', address: 'sender@example.com' });
  expect(addresses(parsed.to)).toEqual(['ann@example.net', 'bob@example.org']);
  expect(addresses(parsed.cc)).toEqual(['carol@example.net']);
  expect(addresses(parsed.replyTo)).toEqual(['replies@example.com']);
  // Bcc is in the envelope only.
  expect(parsed.bcc).toBeUndefined();
  expect(raw.toString('latin1')).not.toMatch(/dave@example\.org/);
  expect(parsed.text?.trim()).toBe('The report is attached.');
  expect(parsed.html).toBe('<p>The report is attached.</p><img src="cid:logo@mailroute.test">');
  const pdf = parsed.attachments.find((a) => a.filename === 'report.pdf');
  expect(pdf?.contentType).toBe('application/pdf');
  expect(pdf?.content.equals(REPORT_PDF)).toBe(true);
  const logo = parsed.attachments.find((a) => a.cid === 'logo@mailroute.test');
  expect(logo?.contentType).toBe('image/png');
  expect(logo?.contentDisposition).toBe('inline');
  expect(logo?.content.equals(PIXEL_PNG)).toBe(true);
  expect(parsed.headers.get('x-campaign-ref')).toBe('q3-2026');
  return parsed;
}

/** The envelope of `richMessage()`: the sender and every recipient, Bcc included. */
export const RICH_ENVELOPE = {
  from: 'sender@example.com',
  to: ['ann@example.net', 'bob@example.org', 'carol@example.net', 'dave@example.org'],
};
