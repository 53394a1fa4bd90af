import { domainToASCII } from 'node:url';

/** One mailbox: an optional display name and an address whose domain is in ASCII (punycode) form. */
export interface MailAddress {
  name?: string;
  address: string;
}

export type AddressInput = string | { name?: string; address: string };

const ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-";
const DOT_ATOM = new RegExp(`^[${ATEXT}]+(\\.[${ATEXT}]+)*$`);
// A quoted local part: printable ASCII except `"` and `\`, or a backslash pair; spaces allowed.
const QUOTED_LOCAL = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const FORBIDDEN_CHARS = /[\r\n\0]/;

/** Returns a sentence saying what is wrong with a display name, or undefined when it is fine. */
export function checkDisplayName(name: string): string | undefined {
  if (FORBIDDEN_CHARS.test(name)) return 'contains a line break or NUL, which could inject a header';
  if (name.length > 256) return `is ${name.length} characters, over the limit of 256`;
  return undefined;
}

/**
 * Parses and checks one address (`user@example.com`, `"Doe, Jane" <jane@example.com>`, `{ name, address }`).
 * Internationalized domains are converted to punycode; quoted local parts are kept as they are.
 * Returns the normalized mailbox or a sentence saying what is wrong.
 */
export function parseAddress(input: AddressInput): { ok: true; value: MailAddress } | { ok: false; error: string } {
  let name: string | undefined;
  let address: string;
  if (typeof input === 'string') {
    if (FORBIDDEN_CHARS.test(input)) return fail('contains a line break or NUL, which could inject a header');
    const split = splitNameAddr(input.trim());
    if ('error' in split) return fail(split.error);
    name = split.name;
    address = split.address;
  } else {
    name = input.name;
    address = input.address.trim();
  }
  if (name !== undefined) {
    const problem = checkDisplayName(name);
    if (problem) return fail(`display name ${problem}`);
    if (name.trim() === '') name = undefined;
  }
  const checked = checkAddrSpec(address);
  if ('error' in checked) return fail(checked.error);
  return { ok: true, value: name === undefined ? { address: checked.address } : { name, address: checked.address } };
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

function splitNameAddr(text: string): { name?: string; address: string } | { error: string } {
  const open = text.lastIndexOf('<');
  if (open === -1) {
    if (text.includes('>')) return { error: `"${text}" has a ">" without "<"` };
    if (/,\s*\S+@/.test(text) && !text.startsWith('"'))
      return { error: 'holds more than one address: give each address as its own list entry' };
    return { address: text };
  }
  if (!text.endsWith('>')) return { error: `"${text}" has text after the closing ">"` };
  const address = text.slice(open + 1, -1).trim();
  let name = text.slice(0, open).trim();
  if (name.startsWith('"') && name.endsWith('"') && name.length >= 2) {
    name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return name ? { name, address } : { address };
}

function checkAddrSpec(address: string): { address: string } | { error: string } {
  if (FORBIDDEN_CHARS.test(address)) return { error: 'contains a line break or NUL, which could inject a header' };
  if (address === '') return { error: 'is empty' };
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return { error: `"${address}" is not an email address (local@domain)` };
  const local = address.slice(0, at);
  const rawDomain = address.slice(at + 1);
  if (!DOT_ATOM.test(local) && !QUOTED_LOCAL.test(local)) {
    if (/[^\x20-\x7e]/.test(local)) {
      return { error: `"${address}" has non-ASCII characters in its local part, which providers do not accept` };
    }
    return { error: `"${address}" has an invalid local part: quote it if it needs spaces or special characters` };
  }
  if (local.length > 64) return { error: `"${address}" has a local part of ${local.length} characters, over 64` };
  const domain = toAsciiDomain(rawDomain);
  if (!domain) return { error: `"${address}" has an invalid domain "${rawDomain}"` };
  const full = `${local}@${domain}`;
  if (full.length > 254) return { error: `"${address}" is ${full.length} characters, over the limit of 254` };
  return { address: full };
}

/** The domain in lower-case ASCII (punycode for an internationalized one), or undefined when it is not a host name. */
export function toAsciiDomain(domain: string): string | undefined {
  if (domain.startsWith('[')) return undefined;
  const ascii = domainToASCII(domain.normalize('NFC'));
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2) return undefined;
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return undefined;
  return ascii;
}

/**
 * A configured domain as messages carry it: an internationalized one in punycode (messages are normalized so),
 * lower case. A name that is not a domain is only lowercased (it then matches nothing, as before).
 */
export function domainKey(domain: string): string {
  return toAsciiDomain(domain) ?? domain.toLowerCase();
}

/** `Name <address>` for logs and summaries; the name quoted when it needs to be. */
export function formatAddress(a: MailAddress): string {
  if (!a.name) return a.address;
  const needsQuotes = /[()<>[\]:;@\\,."]/.test(a.name);
  const name = needsQuotes ? `"${a.name.replace(/(["\\])/g, '\\$1')}"` : a.name;
  return `${name} <${a.address}>`;
}
