import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MailrouteConfig } from '../config/schema.ts';
import { resolveSecret } from '../config/secret-values.ts';
import { ConfigurationError, InvalidMessageError } from '../errors.ts';
import type { Mailer } from '../mailer.ts';
import { unsubscribeHeaders } from '../message/compose.ts';
import type { NormalizedMessage } from '../message/message.ts';
import { allRecipients } from '../message/recipients.ts';
import { maskAddress } from '../util/log.ts';
import { suppressionAddress } from './suppression.ts';

/** The path of the one-click endpoint, under the configured `unsubscribe.baseUrl`. */
export const UNSUBSCRIBE_PATH = '/v1/unsubscribe';

const DEFAULT_TTL_DAYS = 90;
const MIN_SECRET_LENGTH = 32;
const DAY_S = 86_400;
/** Keeps these MACs apart from any other use of the same key, and lets a later format be told apart. */
const MAC_CONTEXT = 'mailroute-unsubscribe-v1|';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

type UnsubscribeConfig = NonNullable<MailrouteConfig['unsubscribe']>;

/** What a link's token says: who unsubscribes, from whose mail, until when it works (epoch seconds). */
export interface UnsubscribeClaim {
  recipient: string;
  /** The sender the message came from: the "list" the recipient leaves (kept in the suppression entry's detail). */
  list: string;
  expiresAt: number;
}

/**
 * `base64url(recipient|list|expiry) . base64url(HMAC-SHA256(key, context + that))`, each field percent-encoded so
 * that a `|` in an address cannot move a boundary.
 */
export function signUnsubscribeToken(claim: UnsubscribeClaim, secret: string): string {
  const payload = [claim.recipient, claim.list, String(claim.expiresAt)].map(encodeURIComponent).join('|');
  return `${Buffer.from(payload).toString('base64url')}.${mac(payload, secret).toString('base64url')}`;
}

export type TokenCheck = { ok: true; claim: UnsubscribeClaim } | { ok: false; status: 400 | 403; reason: string };

/** Checks a token: its form, its signature (in constant time), then its expiry. */
export function verifyUnsubscribeToken(token: string | undefined, secret: string, now = Date.now()): TokenCheck {
  if (!token) return { ok: false, status: 400, reason: 'the link has no token (?token=)' };
  const [encoded, signature, extra] = token.split('.');
  if (extra !== undefined || !encoded || !signature || !BASE64URL.test(encoded) || !BASE64URL.test(signature)) {
    return { ok: false, status: 400, reason: 'the token is malformed' };
  }
  const payload = Buffer.from(encoded, 'base64url').toString('utf8');
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(payload, secret);
  // The signature's last character carries spare bits: only its one canonical spelling is this server's token.
  const canonical = given.toString('base64url') === signature;
  if (!canonical || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      ok: false,
      status: 403,
      reason: 'the token is not one this server signed (tampered, or signed with another key)',
    };
  }
  const fields = payload.split('|').map(decodeField);
  const [recipient, list, expiry] = fields;
  const expiresAt = Number(expiry);
  if (fields.length !== 3 || !recipient || list === undefined || !Number.isSafeInteger(expiresAt)) {
    return { ok: false, status: 400, reason: 'the token is malformed' };
  }
  if (expiresAt * 1000 < now) {
    return { ok: false, status: 403, reason: `the link expired on ${new Date(expiresAt * 1000).toISOString()}` };
  }
  return { ok: true, claim: { recipient, list, expiresAt } };
}

function mac(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret)
    .update(MAC_CONTEXT + payload)
    .digest();
}

function decodeField(field: string): string | undefined {
  try {
    return decodeURIComponent(field);
  } catch {
    return undefined;
  }
}

function signingKey(config: UnsubscribeConfig, env?: NodeJS.ProcessEnv): string {
  const secret = resolveSecret(config.secret, 'unsubscribe.secret', env);
  if (secret.length < MIN_SECRET_LENGTH) {
    const message = `is ${secret.length} characters: a signing key needs at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -base64 32)`;
    throw new ConfigurationError(`unsubscribe.secret ${message}`, {
      issues: [{ path: 'unsubscribe.secret', message }],
    });
  }
  return secret;
}

/**
 * Makes the one-click link of a message that asks mailroute for one (`unsubscribe: { oneClick: true }` without a
 * url): a signed token for its one recipient, under `unsubscribe.baseUrl`, set in its `List-Unsubscribe` with
 * `List-Unsubscribe-Post`. Any other message is returned as it is. Changes the message in place.
 */
export function withManagedUnsubscribe(
  message: NormalizedMessage,
  config: Pick<MailrouteConfig, 'unsubscribe'>,
  options: { env?: NodeJS.ProcessEnv; now?: number } = {},
): NormalizedMessage {
  const spec = message.unsubscribe;
  if (!spec?.oneClick || spec.url) return message;
  const settings = config.unsubscribe;
  if (!settings) {
    throw new InvalidMessageError([
      {
        path: 'unsubscribe.url',
        message:
          'is required: this configuration has no unsubscribe block (baseUrl, secret), so mailroute cannot make and serve a one-click link',
      },
    ]);
  }
  const recipients = allRecipients(message);
  if (recipients.length !== 1) {
    throw new InvalidMessageError([
      { path: 'unsubscribe', message: 'a one-click link mailroute makes is for a message with exactly one recipient' },
    ]);
  }
  const today = Math.floor((options.now ?? Date.now()) / (DAY_S * 1000));
  const claim: UnsubscribeClaim = {
    recipient: suppressionAddress(recipients[0]!.address),
    list: message.from.address,
    // The end of a UTC day, at least ttlDays away: a retry or redelivery the same day composes the same bytes.
    expiresAt: (today + 1 + (settings.ttlDays ?? DEFAULT_TTL_DAYS)) * DAY_S,
  };
  const token = signUnsubscribeToken(claim, signingKey(settings, options.env));
  const url = `${settings.baseUrl.replace(/\/+$/, '')}${UNSUBSCRIBE_PATH}?token=${token}`;
  message.unsubscribe = { ...spec, url };
  message.headers = { ...message.headers, ...unsubscribeHeaders(message.unsubscribe) };
  return message;
}

/** A request to the endpoint, as the HTTP router has it. */
export interface UnsubscribeRequest {
  method: string;
  body: string;
  /** Lower-case names. */
  headers?: Record<string, string | undefined>;
  query?: Record<string, string | undefined>;
}

/** The answer, in the router's shape: JSON, or an HTML page when the client asked for one (`Accept: text/html`). */
export interface UnsubscribeAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * `GET|POST /v1/unsubscribe?token=…`. POST with `List-Unsubscribe=One-Click` (RFC 8058; form-urlencoded or
 * multipart) puts the token's recipient on the suppression list (reason `unsubscribed`, provider `mailroute`) and
 * answers 200, again for a repeat. GET never unsubscribes (a link scanner or a prefetch follows links): it shows a
 * page whose button makes that POST. A missing, malformed, tampered or expired token is refused (400, 403) and
 * changes nothing.
 */
export async function answerUnsubscribe(
  mailer: Pick<Mailer, 'config' | 'events'>,
  request: UnsubscribeRequest,
  options: { env?: NodeJS.ProcessEnv; now?: number } = {},
): Promise<UnsubscribeAnswer> {
  const html = /\btext\/html\b/i.test(request.headers?.accept ?? '');
  const refuse = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
    html
      ? page(status, 'Unsubscribe', `<p>${escapeHtml(message)}</p>`, extra)
      : { status, headers: extra, body: { ok: false, error: { code, message } } };
  const settings = mailer.config.unsubscribe;
  if (!settings) {
    return refuse(
      404,
      'NOT_FOUND',
      'one-click unsubscribe is not configured here (unsubscribe.baseUrl, unsubscribe.secret)',
    );
  }
  if (request.method !== 'GET' && request.method !== 'POST') {
    return refuse(405, 'METHOD_NOT_ALLOWED', 'use POST (GET shows a confirmation page)', { allow: 'GET, POST' });
  }
  const now = options.now ?? Date.now();
  const checked = verifyUnsubscribeToken(request.query?.token, signingKey(settings, options.env), now);
  if (!checked.ok) return refuse(checked.status, 'INVALID_UNSUBSCRIBE_TOKEN', checked.reason);
  const { recipient, list } = checked.claim;
  if (request.method === 'GET') {
    if (!html) {
      const message = 'nothing was changed: POST List-Unsubscribe=One-Click to this URL to unsubscribe';
      return {
        status: 200,
        headers: {},
        body: { ok: true, unsubscribed: false, recipient: maskAddress(recipient), message },
      };
    }
    // Posts back to this very URL (token included), whatever prefix a gateway put before the path.
    const form = `<form method="post" action="?token=${escapeHtml(request.query?.token ?? '')}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`;
    const text = `<p>Stop mail from ${escapeHtml(list)} to <strong>${escapeHtml(recipient)}</strong>?</p>`;
    return page(200, 'Unsubscribe', text + form);
  }
  if (!isOneClickBody(request.body, request.headers?.['content-type'])) {
    return refuse(400, 'INVALID_UNSUBSCRIBE_REQUEST', 'the body must be List-Unsubscribe=One-Click (RFC 8058)');
  }
  await mailer.events.suppressions.add({
    address: recipient,
    reason: 'unsubscribed',
    provider: 'mailroute',
    since: new Date(now).toISOString(),
    detail: `one-click unsubscribe (RFC 8058) from mail sent by ${list}`,
  });
  if (html) return page(200, 'Unsubscribed', `<p><strong>${escapeHtml(recipient)}</strong> is unsubscribed.</p>`);
  return { status: 200, headers: {}, body: { ok: true, unsubscribed: true, recipient: maskAddress(recipient) } };
}

/** `List-Unsubscribe=One-Click`, form-urlencoded or as a multipart/form-data field (RFC 8058 allows both). */
function isOneClickBody(body: string, contentType = ''): boolean {
  const boundary = /^multipart\/form-data\b.*;\s*boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (boundary) {
    return body.split(`--${boundary}`).some((part) => {
      const [head = '', ...rest] = part.split(/\r?\n\r?\n/);
      return /\bname="?List-Unsubscribe"?(;|\s*$)/im.test(head) && rest.join('\n\n').trim() === 'One-Click';
    });
  }
  return new URLSearchParams(body.trim()).get('List-Unsubscribe') === 'One-Click';
}

function page(status: number, title: string, content: string, extra: Record<string, string> = {}): UnsubscribeAnswer {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1.5rem;cursor:pointer}</style></head><body><h1>${title}</h1>${content}</body></html>`;
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      ...extra,
    },
    body,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
