import { expect } from 'vitest';
import { signUnsubscribeToken } from '../../core/events/unsubscribe.ts';
import { UNSUB_CONFIG, UNSUB_KEY } from '../unsubscribe/fields.ts';

// What every cloud's one-click unsubscribe test shares: the configuration block, tokens signed with its key (and
// one forged), the RFC 8058 POST, and the checks of an answer.

/** The configuration's `unsubscribe` block; its key is read from `MR_TEST_UNSUB_KEY` (stub it with UNSUB_KEY). */
export const UNSUBSCRIBE = UNSUB_CONFIG;
export { UNSUB_KEY };
export const UNSUB_KEY_VARIABLE = UNSUB_CONFIG.secret.env;

/** The body and content type a mailbox provider POSTs (RFC 8058). */
export const ONE_CLICK = 'List-Unsubscribe=One-Click';
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
export const HTML = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };

const tomorrow = () => Math.floor(Date.now() / 1000) + 86_400;

/** A link's token as mailroute signs it, for this recipient of mail from `list`. */
export const tokenFor = (recipient: string, list = 'app@example.com') =>
  signUnsubscribeToken({ recipient, list, expiresAt: tomorrow() }, UNSUB_KEY);

/** The same claim signed with another key: what a forger can make. */
export const forgedTokenFor = (recipient: string, list = 'app@example.com') =>
  signUnsubscribeToken({ recipient, list, expiresAt: tomorrow() }, 'not-the-deployment-key-0123456789abcdef');

/** A written answer as the tests compare it: status, lower-case headers, the body as text. */
export interface WrittenAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/** The page a browser gets: an HTML document, not a JSON string. */
export function expectPage(answer: WrittenAnswer, status = 200): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(answer.body.startsWith('<!doctype html>')).toBe(true);
  expect(answer.body).not.toMatch(/^"/);
  expect(answer.body).not.toContain('\\"');
}

/** A JSON answer, parsed. */
export function json(answer: WrittenAnswer): Record<string, unknown> {
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(answer.body) as Record<string, unknown>;
}

/** The answer to a POST with a good token: 200, unsubscribed, the recipient masked. */
export function expectUnsubscribed(answer: WrittenAnswer): void {
  expect(answer.status).toBe(200);
  expect(json(answer)).toMatchObject({ ok: true, unsubscribed: true, recipient: expect.stringMatching(/\*\*\*@/) });
}

/** The answer to a forged token: 403, ok false, the token's code. */
export function expectForgedRefused(answer: WrittenAnswer): void {
  expect(answer.status).toBe(403);
  expect(json(answer)).toMatchObject({ ok: false, error: { code: 'INVALID_UNSUBSCRIBE_TOKEN' } });
}
