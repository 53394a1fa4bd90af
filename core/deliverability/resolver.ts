import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { ConfigurationError } from '../errors.ts';

/** A DNS lookup as `dns.promises.resolve` does it, and as mailauth takes it (`resolver(name, rrtype)`). */
export type DnsResolve = (name: string, rrtype: string) => Promise<unknown>;

/**
 * The DNS servers to query: `--resolver HOST:PORT[,HOST:PORT...]` or `MAILROUTE_DNS_SERVERS`, each an IP address
 * with an optional port (`[::1]:53` for IPv6 with a port). Undefined: the system's resolver.
 */
export function parseDnsServers(value: string | undefined, field = 'MAILROUTE_DNS_SERVERS'): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((raw) => {
    const text = raw.trim();
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
    const plain = /^([^:]+)(?::(\d+))?$/.exec(text);
    const host = bracketed?.[1] ?? (isIP(text) === 6 ? text : plain?.[1]);
    const port = bracketed?.[2] ?? (isIP(text) === 6 ? undefined : plain?.[2]);
    if (!host || isIP(host) === 0 || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new ConfigurationError(`${field}: "${text}" is not a DNS server address such as 127.0.0.1:5353`, {
        issues: [{ path: field, message: 'must be IP[:PORT] entries separated by commas' }],
      });
    }
    return port === undefined ? host : isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  });
}

/**
 * A resolver for one doctor run: the given servers (or the system's), each question asked once (the checks of
 * several providers share the answers), bounded by `timeoutMs` per try.
 */
export function createResolver(servers?: string[], timeoutMs = 3000): DnsResolve {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers?.length) resolver.setServers(servers);
  const cache = new Map<string, Promise<unknown>>();
  return (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    let answer = cache.get(key);
    if (!answer) {
      answer = resolver.resolve(name, rrtype);
      answer.catch(() => undefined);
      cache.set(key, answer);
    }
    return answer;
  };
}

/** Whether a lookup's error means "no such record" (the name or the type absent), not a failure to ask. */
export function isNoRecord(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
}

/** TXT records of a name, each joined from its character-strings; none when the name or type is absent. */
export async function txtRecords(resolve: DnsResolve, name: string): Promise<string[]> {
  try {
    const rows = (await resolve(name, 'TXT')) as string[][];
    return rows.map((parts) => parts.join(''));
  } catch (error) {
    if (isNoRecord(error)) return [];
    throw error;
  }
}

/** A name without its trailing dot, lower-case: how DNS names are compared. */
export function normalizeName(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}
