import { detectMimeType } from 'nodemailer/lib/mime-funcs/mime-types';
import type { z } from 'zod';
import { unsupportedOption } from '../contract/provider-options.ts';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { type FieldIssue, InvalidMessageError } from '../errors.ts';
import { type AddressInput, type MailAddress, parseAddress } from './address.ts';
import { unsubscribeHeaders } from './compose.ts';
import { jsonBoundsIssue } from './json-bounds.ts';
import {
  messageSchemaFor,
  type NormalizedAttachment,
  type NormalizedMessage,
  type UnsubscribeSpec,
} from './message.ts';
import { formatPath, valueAt } from './paths.ts';

/**
 * Headers a message may not give in `headers`, and why: those its own fields set (giving them would contradict those
 * fields), and those only a signer, a relay or a receiver writes.
 */
const RESERVED_HEADERS = new Map<string, string>([
  ['from', 'it is set by from'],
  ['to', 'it is set by to'],
  ['cc', 'it is set by cc'],
  ['bcc', 'it is set by bcc'],
  ['reply-to', 'it is set by replyTo'],
  ['subject', 'it is set by subject'],
  ['sender', 'it is set by from'],
  ['message-id', 'it is set by idempotencyKey (the Message-ID is derived from it)'],
  ['date', 'it is set by the send time'],
  ['mime-version', 'it is set by the composer'],
  ['content-type', 'it is set by text, html and attachments'],
  ['content-transfer-encoding', 'it is set by the composer'],
  ['return-path', 'it is set by the envelope sender (from)'],
  ['list-unsubscribe', 'it is set by unsubscribe'],
  ['list-unsubscribe-post', 'it is set by unsubscribe (oneClick)'],
  // Headers that speak for the sender's domain or for the receiving side: given by the caller, they would forge a
  // signature, a verdict or a hop that receivers (and people reading the message) take as coming from elsewhere.
  [
    'dkim-signature',
    'it is added by the signing domain (smtp.dkim, or the provider); one given here would claim to speak for a domain',
  ],
  ['domainkey-signature', 'it is added by the signing domain, never given with the message'],
  [
    'authentication-results',
    'it is written by the receiving side after checking SPF, DKIM and DMARC (RFC 8601); given here it would forge that verdict',
  ],
  [
    'received-spf',
    'it is written by the receiving side after checking SPF (RFC 7208); given here it would forge that verdict',
  ],
  ['received', 'it is added by each mail server the message passes through, never by its sender'],
  ['delivered-to', 'it is added by the receiving mail system when it delivers the message'],
  ['x-original-to', 'it is added by the receiving mail system when it delivers the message'],
]);

/** Whole families, by prefix: every `Resent-*` field, every `ARC-*` field. */
const RESERVED_PREFIXES: [string, string][] = [
  [
    'resent-',
    'Resent-* fields say who re-sent the message and when (RFC 5322 3.6.6): they would speak for a sender other than from',
  ],
  [
    'arc-',
    'ARC fields are added by the mail systems that handle the message (RFC 8617) to vouch for its authentication, never by its sender',
  ],
];

/** Why a header may not be given in `headers`, or undefined when it may. */
function reservedReason(lower: string): string | undefined {
  return RESERVED_HEADERS.get(lower) ?? RESERVED_PREFIXES.find(([prefix]) => lower.startsWith(prefix))?.[1];
}

/** A URL goes in a header line whole (it cannot be folded): room for it, the mailto and the field name in 998. */
const MAX_UNSUBSCRIBE_URL = 900;

/**
 * Base64 as the alphabet then at most two `=`, its length a multiple of 4 (checked beside it). One character class
 * repeated, not groups of four: a repeated group keeps a backtracking entry per group, and a 6 MB attachment
 * overflowed the regular expression's stack (`Maximum call stack size exceeded`, refused as an invalid message).
 */
const BASE64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isBase64 = (text: string): boolean => text.length % 4 === 0 && BASE64.test(text);
const ADDRESS_FIELDS = ['from', 'to', 'cc', 'bcc', 'replyTo'] as const;

export { formatPath };

export type ValidationResult = { ok: true; message: NormalizedMessage } | { ok: false; issues: FieldIssue[] };

/**
 * Checks a message and reports every problem at once, each with its field path and a sentence a person
 * understands. On success the message comes back normalized (lists, punycode domains, decoded attachments).
 * With a provider registry, `providerOptions` are checked against each provider's options, whatever the route;
 * without one, only their shape is. A message over the bounds of core/message/json-bounds.ts (nested deeper than 64
 * levels, over 100,000 values or 64 MiB of text) is refused with that one issue, before anything else is checked.
 */
export function validateMessage(input: unknown, providers?: ProviderRegistry): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ path: '', message: 'the message must be a JSON object' }] };
  }
  // Before anything walks it: nested too deep, too many values or too large, it is refused in bounded time, never
  // with a stack overflow (the schema, the idempotency hash) nor after seconds spent on a list of millions.
  const bounds = jsonBoundsIssue(input);
  if (bounds) return { ok: false, issues: [bounds] };
  const raw = input as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  const { addresses, addressIssuePaths } = parseAddressFields(raw, issues);

  const parsed = messageSchemaFor(providers).safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = formatPath(issue.path);
      if (addressIssuePaths.has(path) || [...addressIssuePaths].some((p) => path.startsWith(`${p}.`))) continue;
      if (issue.code === 'unrecognized_keys' && issue.path[0] === 'providerOptions' && issue.path.length <= 2) {
        issues.push(...unknownOptions(issue.path, issue.keys, providers));
      } else issues.push({ path, message: describeIssue(issue, raw) });
    }
  }

  const recipientCount = ['to', 'cc', 'bcc'].reduce((n, f) => n + countEntries(raw[f]), 0);
  if (recipientCount === 0) issues.push({ path: 'to', message: 'at least one recipient is required in to, cc or bcc' });
  if (!nonEmpty(raw.text) && !nonEmpty(raw.html)) {
    issues.push({ path: 'text', message: 'the message needs a text or an html body (or both)' });
  }
  checkHeaders(raw.headers, issues);
  const unsubscribe = checkUnsubscribe(raw.unsubscribe, recipientCount, issues);
  const attachments = checkAttachments(raw.attachments, issues);

  if (issues.length > 0 || !parsed.success) return { ok: false, issues: dedupe(issues) };
  const m = parsed.data;
  return {
    ok: true,
    message: {
      from: addresses.get('from')![0]!,
      to: addresses.get('to') ?? [],
      cc: addresses.get('cc') ?? [],
      bcc: addresses.get('bcc') ?? [],
      replyTo: addresses.get('replyTo') ?? [],
      subject: m.subject,
      ...(m.text === undefined ? {} : { text: m.text }),
      ...(m.html === undefined ? {} : { html: m.html }),
      attachments,
      headers: { ...m.headers, ...(unsubscribe ? unsubscribeHeaders(unsubscribe) : {}) },
      tags: m.tags ?? [],
      metadata: m.metadata ?? {},
      ...(m.idempotencyKey === undefined ? {} : { idempotencyKey: m.idempotencyKey }),
      ...(m.route === undefined ? {} : { route: m.route }),
      ...(unsubscribe ? { unsubscribe } : {}),
      ...(m.suppression === undefined ? {} : { suppression: m.suppression }),
      providerOptions: (m.providerOptions ?? {}) as Record<string, Record<string, unknown>>,
    },
  };
}

/** Every address field parsed on its own, so that each bad entry is reported with its index. */
function parseAddressFields(raw: Record<string, unknown>, issues: FieldIssue[]) {
  const addressIssuePaths = new Set<string>();
  const addresses = new Map<string, MailAddress[]>();
  for (const field of ADDRESS_FIELDS) {
    const value = raw[field];
    if (value === undefined) continue;
    if (field === 'from' && Array.isArray(value)) {
      issues.push({ path: 'from', message: 'must be one address, not a list' });
      addressIssuePaths.add('from');
      continue;
    }
    const entries = Array.isArray(value) ? value : [value];
    const parsed: MailAddress[] = [];
    entries.forEach((entry, i) => {
      const path = Array.isArray(value) ? `${field}[${i}]` : field;
      const shaped = asAddressInput(entry);
      if (!shaped) return; // the schema reports the wrong type
      const result = parseAddress(shaped);
      if (result.ok) parsed.push(result.value);
      else {
        issues.push({ path, message: result.error });
        addressIssuePaths.add(path);
      }
    });
    addresses.set(field, parsed);
  }
  return { addresses, addressIssuePaths };
}

/** Like `validateMessage`, but throws `InvalidMessageError` listing every problem. */
export function normalizeMessage(input: unknown, providers?: ProviderRegistry): NormalizedMessage {
  const result = validateMessage(input, providers);
  if (!result.ok) throw new InvalidMessageError(result.issues);
  return result.message;
}

/** One issue per unknown key, named: a provider the registry lacks, or an option its provider lacks. */
function unknownOptions(path: PropertyKey[], keys: string[], providers?: ProviderRegistry): FieldIssue[] {
  const at = (key: string) => formatPath([...path, key]);
  if (path.length === 1) {
    const have = providers?.descriptors.map((d) => d.id).join(', ');
    return keys.map((key) => ({ path: at(key), message: `names no provider (have: ${have})` }));
  }
  const provider = String(path[1]);
  return keys.map((key) => ({ path: at(key), message: unsupportedOption(provider, key) }));
}

function asAddressInput(entry: unknown): AddressInput | undefined {
  if (typeof entry === 'string') return entry;
  if (typeof entry === 'object' && entry !== null && typeof (entry as { address?: unknown }).address === 'string') {
    const { name, address } = entry as { name?: unknown; address: string };
    if (name !== undefined && typeof name !== 'string') return undefined;
    return name === undefined ? { address } : { name, address };
  }
  return undefined;
}

function countEntries(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return Array.isArray(value) ? value.length : 1;
}

function nonEmpty(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0;
}

function checkHeaders(headers: unknown, issues: FieldIssue[]): void {
  if (typeof headers !== 'object' || headers === null) return;
  const seen = new Set<string>();
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    const reason = reservedReason(lower);
    if (reason) issues.push({ path: `headers.${name}`, message: `is a reserved header: ${reason}` });
    if (seen.has(lower)) issues.push({ path: `headers.${name}`, message: 'is given twice (header names ignore case)' });
    seen.add(lower);
  }
}

/**
 * `unsubscribe`, normalized: the URL absolute and ASCII, the address a `mailto:` URI. A one-click link mailroute makes
 * (oneClick without url) unsubscribes the one recipient it names, so such a message may have only one.
 */
function checkUnsubscribe(value: unknown, recipients: number, issues: FieldIssue[]): UnsubscribeSpec | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { url, mailto, oneClick } = value as Record<string, unknown>;
  const before = issues.length;
  const spec: UnsubscribeSpec = { oneClick: oneClick === true };
  if (typeof url === 'string') {
    const href = unsubscribeUrl(url, spec.oneClick, issues);
    if (href) spec.url = href;
  }
  if (typeof mailto === 'string') {
    const uri = mailtoUri(mailto, issues);
    if (uri) spec.mailto = uri;
  }
  if (url === undefined && mailto === undefined && !spec.oneClick) {
    issues.push({
      path: 'unsubscribe',
      message: 'needs a url, a mailto address, or oneClick: true (a one-click link mailroute makes and serves)',
    });
  }
  if (spec.oneClick && url === undefined && recipients > 1) {
    issues.push({
      path: 'unsubscribe',
      message: `a one-click link mailroute makes (oneClick without url) unsubscribes the one recipient it is made for, and this message has ${recipients} in to, cc and bcc: send one message per recipient, or give your own url`,
    });
  }
  return issues.length === before ? spec : undefined;
}

function unsubscribeUrl(value: string, oneClick: boolean, issues: FieldIssue[]): string | undefined {
  const path = 'unsubscribe.url';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    issues.push({ path, message: 'is not an absolute URL' });
    return undefined;
  }
  if (url.protocol !== 'https:' && (oneClick || url.protocol !== 'http:')) {
    issues.push({
      path,
      message: oneClick
        ? 'must be an https URL: one-click unsubscribe (RFC 8058) is an HTTPS POST'
        : 'must be an https (or http) URL',
    });
    return undefined;
  }
  if (url.username || url.password) {
    issues.push({ path, message: 'must not hold a user name or password' });
    return undefined;
  }
  // ASCII (punycode host, percent-encoded rest); a comma would read as the end of the URL in the header's list.
  const href = url.href.replace(/,/g, '%2C');
  if (href.length > MAX_UNSUBSCRIBE_URL) {
    issues.push({
      path,
      message: `is ${href.length} characters encoded, over the limit of ${MAX_UNSUBSCRIBE_URL} (a header line holds it whole)`,
    });
    return undefined;
  }
  return href;
}

function mailtoUri(value: string, issues: FieldIssue[]): string | undefined {
  const parsed = parseAddress(value.replace(/^mailto:/i, ''));
  if (!parsed.ok) {
    issues.push({ path: 'unsubscribe.mailto', message: parsed.error });
    return undefined;
  }
  if (parsed.value.name !== undefined) {
    issues.push({ path: 'unsubscribe.mailto', message: 'must be an address alone, without a display name' });
    return undefined;
  }
  const { address } = parsed.value;
  const at = address.lastIndexOf('@');
  // RFC 6068: the local part percent-encoded where needed (a quoted one's quotes and spaces); the domain is ASCII.
  return `mailto:${encodeURIComponent(address.slice(0, at))}${address.slice(at)}`;
}

function checkAttachments(value: unknown, issues: FieldIssue[]): NormalizedAttachment[] {
  if (!Array.isArray(value)) return [];
  const out: NormalizedAttachment[] = [];
  const contentIds = new Set<string>();
  value.forEach((a: unknown, i) => {
    if (typeof a !== 'object' || a === null) return;
    const { filename, contentType, content, contentId } = a as Record<string, unknown>;
    if (typeof content === 'string') {
      // The text itself when it has no white space (no copy of an attachment tens of MB long).
      const compact = /\s/.test(content) ? content.replace(/\s+/g, '') : content;
      if (!isBase64(compact)) {
        issues.push({ path: `attachments[${i}].content`, message: 'is not valid base64' });
      } else if (typeof filename === 'string') {
        out.push({
          filename,
          contentType: typeof contentType === 'string' ? contentType : detectMimeType(filename),
          content: Buffer.from(compact, 'base64'),
          ...(typeof contentId === 'string' ? { contentId } : {}),
        });
      }
    }
    if (typeof contentId === 'string') {
      if (contentIds.has(contentId)) {
        issues.push({ path: `attachments[${i}].contentId`, message: `"${contentId}" is used by another attachment` });
      }
      contentIds.add(contentId);
    }
  });
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  if (issue.code !== 'unrecognized_keys' && valueAt(raw, issue.path) === undefined) return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${issue.expected === 'record' ? 'an object' : `a ${issue.expected}`}`;
    case 'unrecognized_keys':
      return `has unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'regex' && String(issue.pattern) === String(/^[^\r\n\0]*$/)) {
        return 'contains a line break or NUL, which could inject a header';
      }
      return `has an invalid format (${describePattern(issue)})`;
    case 'too_big':
      return `is longer than the limit of ${issue.maximum} ${issue.origin === 'array' ? 'entries' : 'characters'}`;
    case 'too_small':
      return issue.minimum === 1 ? 'must not be empty' : `is shorter than ${issue.minimum} characters`;
    case 'invalid_union':
      return 'must be an address string "Name <user@example.com>" or { name, address }, or a list of them';
    case 'invalid_key':
      return 'is not a valid header name (printable ASCII without spaces or ":")';
    default:
      return issue.message;
  }
}

function describePattern(issue: z.core.$ZodIssueInvalidStringFormat): string {
  return 'pattern' in issue && issue.pattern ? `must match ${issue.pattern}` : issue.format;
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
