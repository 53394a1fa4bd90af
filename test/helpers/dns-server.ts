import { promises as dns } from 'node:dns';
import type { AddressInfo, Socket } from 'node:net';
import type DNS2 from 'dns2';
import { createTCPServer, createUDPServer, type DnsHandler, Packet, type TCPServer, type UDPServer } from 'dns2';

type Resource = DNS2.Packet.Resource;

/** One record of a test zone. A TXT value given as one string longer than 255 bytes is split into 255-byte strings. */
export type ZoneRecord =
  | { type: 'TXT'; value: string | string[] }
  | { type: 'CNAME'; value: string }
  | { type: 'MX'; value: string; priority?: number }
  | { type: 'A'; value: string }
  | { type: 'AAAA'; value: string };

/** Records by fully qualified name (case-insensitive, with or without the trailing dot). */
export type Zone = Record<string, ZoneRecord[]>;

export interface TestDnsServer {
  /** "127.0.0.1:PORT", for dns.promises.Resolver#setServers and for `--resolver`. */
  readonly address: string;
  readonly port: number;
  /** Replaces the whole zone (tests change it between cases). */
  setZone(zone: Zone): void;
  /**
   * Every query received so far, name lower-cased without the trailing dot. A query whose UDP answer was truncated
   * and retried over TCP appears twice.
   */
  readonly queries: { name: string; type: string }[];
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
/** How many CNAMEs an answer follows inside the zone before it gives up (a loop, or a very long chain). */
const MAX_CNAME_HOPS = 8;
const TTL = 60;

const canonical = (name: string) => name.toLowerCase().replace(/\.+$/, '');

/** A TXT character-string holds at most 255 bytes (RFC 1035 §3.3): longer ones are cut, on bytes, as DNS hosts do. */
function characterStrings(value: string | string[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (const text of Array.isArray(value) ? value : [value]) {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length === 0) chunks.push(bytes);
    for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  }
  return chunks;
}

function resource(name: string, record: ZoneRecord): Resource {
  const base = { name, class: Packet.CLASS.IN, ttl: TTL };
  switch (record.type) {
    case 'TXT':
      return { ...base, type: Packet.TYPE.TXT, data: characterStrings(record.value) } as unknown as Resource;
    case 'CNAME':
      return { ...base, type: Packet.TYPE.CNAME, domain: canonical(record.value) } as Resource;
    case 'MX':
      return {
        ...base,
        type: Packet.TYPE.MX,
        exchange: canonical(record.value),
        priority: record.priority ?? 10,
      } as Resource;
    case 'A':
      return { ...base, type: Packet.TYPE.A, address: record.value } as Resource;
    case 'AAAA':
      return { ...base, type: Packet.TYPE.AAAA, address: record.value } as Resource;
  }
}

/** The answer section and rcode an authoritative server for `zone` gives to one question. */
function answer(zone: Map<string, ZoneRecord[]>, asked: string, type: string): { answers: Resource[]; rcode: number } {
  const exists = (name: string) => {
    if (zone.has(name)) return true;
    // An empty non-terminal (a name with descendants and no records of its own) exists too: NODATA, not NXDOMAIN.
    for (const key of zone.keys()) if (key.endsWith(`.${name}`)) return true;
    return false;
  };
  const answers: Resource[] = [];
  let owner = asked.replace(/\.+$/, '');
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const name = canonical(owner);
    if (!exists(name)) return { answers, rcode: Packet.RCODE.NXDOMAIN };
    const records = zone.get(name) ?? [];
    const cname = records.find((r) => r.type === 'CNAME');
    if (cname && type !== 'CNAME' && type !== 'ANY') {
      answers.push(resource(owner, cname));
      owner = canonical(cname.value);
      continue;
    }
    for (const record of records) if (record.type === type || type === 'ANY') answers.push(resource(owner, record));
    return { answers, rcode: Packet.RCODE.NOERROR };
  }
  // A CNAME loop or a chain longer than the bound: what a real server would also refuse to follow.
  return { answers: [], rcode: Packet.RCODE.SERVFAIL };
}

/**
 * A real DNS server on 127.0.0.1 (UDP and TCP on the same OS-picked port), authoritative for `zone` and nothing else.
 * UDP answers larger than the client's payload size (512 bytes, or its EDNS size) go out with the TC bit set, so
 * resolvers retry over TCP.
 */
export async function startDnsServer(initialZone: Zone = {}): Promise<TestDnsServer> {
  let zone = new Map<string, ZoneRecord[]>();
  const setZone = (next: Zone) => {
    zone = new Map(Object.entries(next).map(([name, records]) => [canonical(name), records]));
  };
  setZone(initialZone);
  const queries: { name: string; type: string }[] = [];

  const handle: DnsHandler = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    const [question] = request.questions;
    if (!question || request.questions.length !== 1) {
      response.header.rcode = Packet.RCODE.FORMERR;
    } else {
      const type = Packet.TYPE_NAME[question.type] ?? `TYPE${question.type}`;
      queries.push({ name: canonical(question.name), type });
      const { answers, rcode } = answer(zone, question.name, type);
      response.answers = answers;
      response.header.rcode = rcode;
    }
    send(response).catch(() => {});
  };

  const { udp, tcp } = await bindPair(handle);
  const connections = new Set<Socket>();
  tcp.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  const port = (udp.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    address: `${HOST}:${port}`,
    port,
    setZone,
    queries,
    close: () => {
      closing ??= Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => {
          tcp.close(() => resolve());
          // Resolvers keep their TCP connections open; the server closes only once they are gone.
          for (const socket of connections) socket.destroy();
        }),
      ]).then(() => {});
      return closing;
    },
  };
}

/** Binds UDP on an OS-picked port, then TCP on the same port; another process may hold that TCP port, so retry. */
async function bindPair(handle: DnsHandler): Promise<{ udp: UDPServer; tcp: TCPServer }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const udp = createUDPServer({ type: 'udp4' });
    udp.on('request', handle);
    udp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, HOST, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const port = (udp.address() as AddressInfo).port;
    const tcp = createTCPServer(handle);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, HOST, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      tcp.on('error', () => {});
      return { udp, tcp };
    } catch (error) {
      lastError = error;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw lastError;
}

/**
 * A `dns.promises.resolve`-like function (mailauth's `resolver` option) that asks only `server`, over a fresh
 * `dns.promises.Resolver`.
 */
// biome-ignore lint/suspicious/noExplicitAny: the shape of the answer depends on rrtype, as with dns.promises.resolve.
export function resolverFor(server: TestDnsServer): (name: string, rrtype: string) => Promise<any> {
  const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server.address]);
  return (name, rrtype) => resolver.resolve(name, rrtype);
}
