import { expect } from 'vitest';
import { verifyUnsubscribeToken } from '../../core/events/unsubscribe.ts';

/** The signing key of the tests' `unsubscribe` configuration block (as `MR_TEST_UNSUB_KEY`). */
export const UNSUB_KEY = 'test-unsubscribe-signing-key-0123456789abcdef';
export const UNSUB_CONFIG = { baseUrl: 'https://mail.example.com/', secret: { env: 'MR_TEST_UNSUB_KEY' } };

/** A message's own unsubscribe targets, and the exact fields they must become. */
export const OWN = {
  url: 'https://news.example.com/unsubscribe?u=ann%40example.net&list=weekly',
  mailto: 'leave@news.example.com',
  oneClick: true,
};
export const OWN_FIELDS: [string, string][] = [
  ['List-Unsubscribe', `<${OWN.url}>, <mailto:leave@news.example.com>`],
  ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
];

/** The top-level header fields of a MIME message, in order, each unfolded (RFC 5322 2.2.3). */
export function headerFields(raw: Buffer | string): [string, string][] {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end === -1 ? text : text.slice(0, end)).replace(/\r?\n(?=[ \t])/g, '');
  return head.split(/\r?\n/).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+/, '')];
  });
}

/** The List-Unsubscribe fields of a MIME message (or of a name/value list), in order. */
export function unsubscribeFields(source: Buffer | string | [string, string][]): [string, string][] {
  const fields = Array.isArray(source) ? source : headerFields(source);
  return fields.filter(([name]) => /^list-unsubscribe(-post)?$/i.test(name));
}

/**
 * Checks the fields of a mailroute-made one-click link: the URL under the configured base, its token signed for the
 * recipient and the sender; returns the URL.
 */
export function expectManagedFields(fields: [string, string][], recipient: string, sender: string): string {
  expect(fields).toHaveLength(2);
  const [[name, value], post] = fields as [[string, string], [string, string]];
  expect(name).toBe('List-Unsubscribe');
  expect(post).toEqual(['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click']);
  const url = /^<(https:\/\/mail\.example\.com\/v1\/unsubscribe\?token=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)>$/.exec(
    value,
  )?.[1];
  expect(url, value).toBeDefined();
  const checked = verifyUnsubscribeToken(new URL(url!).searchParams.get('token') ?? '', UNSUB_KEY);
  expect(checked).toMatchObject({ ok: true, claim: { recipient, list: sender } });
  return url!;
}
