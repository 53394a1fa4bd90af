import { createSocket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { createServer } from 'node:net';
import { Packet } from 'dns2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolverFor, startDnsServer, type TestDnsServer, type Zone } from './dns-server.ts';

/** A DKIM-sized value: longer than one TXT character-string, and than a plain 512-byte UDP answer. */
const LONG = `v=DKIM1; k=rsa; p=${'A'.repeat(582)}`;

const ZONE: Zone = {
  'Example.COM.': [
    { type: 'TXT', value: 'v=spf1 -all' },
    { type: 'MX', value: 'mx2.example.com', priority: 20 },
    { type: 'MX', value: 'mx1.example.com', priority: 10 },
    { type: 'A', value: '192.0.2.10' },
    { type: 'AAAA', value: '2001:db8::10' },
  ],
  'long._domainkey.example.com': [{ type: 'TXT', value: LONG }],
  'split.example.com': [{ type: 'TXT', value: ['first part; ', 'second part'] }],
  'alias.example.com': [{ type: 'CNAME', value: 'hop.example.com' }],
  'hop.example.com': [{ type: 'CNAME', value: 'long._domainkey.example.com.' }],
  'loop-a.example.com': [{ type: 'CNAME', value: 'loop-b.example.com' }],
  'loop-b.example.com': [{ type: 'CNAME', value: 'loop-a.example.com' }],
};

let server: TestDnsServer;
let resolver: dns.Resolver;

beforeAll(async () => {
  server = await startDnsServer(ZONE);
});
beforeEach(() => {
  server.setZone(ZONE);
  server.queries.length = 0;
  // A fresh resolver each time: c-ares caches nothing by default, but a new channel makes that certain.
  resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server.address]);
});
afterAll(async () => {
  await server?.close();
});

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: NodeJS.ErrnoException) => error.code,
  );

/** One query over UDP without EDNS, the way a minimal client asks: the answer must fit 512 bytes. */
async function rawUdpQuery(name: string, type: number): Promise<Packet> {
  const query = new Packet();
  query.header.id = 4242;
  query.header.rd = 1;
  query.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  const socket = createSocket('udp4');
  try {
    return await new Promise<Packet>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('message', (message) => resolve(Packet.parse(message)));
      socket.send(query.toBuffer(), server.port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

describe('startDnsServer', () => {
  it('listens on UDP and TCP on one loopback port', () => {
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('answers TXT, keeping the character-strings of a record apart', async () => {
    expect(await resolver.resolveTxt('example.com')).toEqual([['v=spf1 -all']]);
    expect(await resolver.resolveTxt('split.example.com')).toEqual([['first part; ', 'second part']]);
    expect(await resolver.resolve('example.com', 'TXT')).toEqual([['v=spf1 -all']]);
  });

  it('splits a TXT value over 255 bytes into 255-byte strings, and serves the 600-byte answer over TCP', async () => {
    expect(LONG).toHaveLength(600);
    const [record] = await resolver.resolveTxt('long._domainkey.example.com');
    expect(record?.map((s) => s.length)).toEqual([255, 255, 90]);
    expect(record?.join('')).toBe(LONG);
    expect(await resolver.resolve('long._domainkey.example.com', 'TXT')).toEqual([record]);
    // Over plain UDP the answer does not fit: the server says so with TC, and a resolver retries over TCP.
    const truncated = await rawUdpQuery('long._domainkey.example.com', Packet.TYPE.TXT);
    expect(truncated.header.tc).toBe(1);
    expect(truncated.answers).toEqual([]);
    const small = await rawUdpQuery('example.com', Packet.TYPE.TXT);
    expect(small.header).toMatchObject({ tc: 0, aa: 1, rcode: 0 });
    expect(small.answers.map((a) => a.data)).toEqual([['v=spf1 -all']]);
  });

  it('follows a CNAME chain inside the zone for the asked type, and answers CNAME itself when asked', async () => {
    expect(await resolver.resolveTxt('alias.example.com')).toEqual([
      [LONG.slice(0, 255), LONG.slice(255, 510), LONG.slice(510)],
    ]);
    expect(await resolver.resolveCname('alias.example.com')).toEqual(['hop.example.com']);
    const raw = await rawUdpQuery('alias.example.com', Packet.TYPE.A);
    expect(raw.answers.map((a) => [a.name, a.type, a.domain])).toEqual([
      ['alias.example.com', Packet.TYPE.CNAME, 'hop.example.com'],
      ['hop.example.com', Packet.TYPE.CNAME, 'long._domainkey.example.com'],
    ]);
    expect(raw.header.rcode).toBe(Packet.RCODE.NOERROR);
  });

  it('gives up on a CNAME loop with SERVFAIL instead of answering forever', async () => {
    expect((await rawUdpQuery('loop-a.example.com', Packet.TYPE.TXT)).header.rcode).toBe(Packet.RCODE.SERVFAIL);
    expect(await codeOf(resolver.resolveTxt('loop-a.example.com'))).toBe('ESERVFAIL');
  });

  it('answers MX, A and AAAA', async () => {
    const mx = await resolver.resolveMx('example.com');
    expect(mx.sort((a, b) => a.priority - b.priority)).toEqual([
      { exchange: 'mx1.example.com', priority: 10 },
      { exchange: 'mx2.example.com', priority: 20 },
    ]);
    expect(await resolver.resolve4('example.com')).toEqual(['192.0.2.10']);
    expect(await resolver.resolve6('example.com')).toEqual(['2001:db8::10']);
  });

  it('tells a missing name (NXDOMAIN, ENOTFOUND) from a name without that type (NODATA, ENODATA)', async () => {
    expect(await codeOf(resolver.resolveTxt('nothing.example.com'))).toBe('ENOTFOUND');
    expect((await rawUdpQuery('nothing.example.com', Packet.TYPE.TXT)).header.rcode).toBe(Packet.RCODE.NXDOMAIN);
    expect(await codeOf(resolver.resolveMx('long._domainkey.example.com'))).toBe('ENODATA');
    expect(await codeOf(resolver.resolveCname('example.com'))).toBe('ENODATA');
    const nodata = await rawUdpQuery('split.example.com', Packet.TYPE.MX);
    expect(nodata.header.rcode).toBe(Packet.RCODE.NOERROR);
    expect(nodata.answers).toEqual([]);
    // A name with descendants and no records of its own exists (an empty non-terminal).
    expect(await codeOf(resolver.resolveTxt('_domainkey.example.com'))).toBe('ENODATA');
    // Outside the zone altogether.
    expect(await codeOf(resolver.resolveTxt('example.org'))).toBe('ENOTFOUND');
  });

  it('replaces the whole zone with setZone', async () => {
    server.setZone({ 'new.example.net': [{ type: 'TXT', value: 'fresh' }] });
    expect(await resolver.resolveTxt('NEW.example.net.')).toEqual([['fresh']]);
    expect(await codeOf(resolver.resolveTxt('example.com'))).toBe('ENOTFOUND');
    server.setZone(ZONE);
    expect(await resolver.resolveTxt('example.com')).toEqual([['v=spf1 -all']]);
  });

  it('records every query it receives', async () => {
    await resolver.resolveTxt('Split.Example.com');
    await codeOf(resolver.resolveMx('nothing.example.com'));
    await resolver.resolveCname('alias.example.com');
    expect(server.queries).toEqual([
      { name: 'split.example.com', type: 'TXT' },
      { name: 'nothing.example.com', type: 'MX' },
      { name: 'alias.example.com', type: 'CNAME' },
    ]);
  });

  it('gives mailauth its resolver: dns.promises.resolve-shaped, asking only this server', async () => {
    const resolve = resolverFor(server);
    expect(await resolve('long._domainkey.example.com', 'TXT')).toEqual([
      [LONG.slice(0, 255), LONG.slice(255, 510), LONG.slice(510)],
    ]);
    expect(await codeOf(resolve('nothing.example.com', 'TXT'))).toBe('ENOTFOUND');
    expect(server.queries.map((q) => q.name)).toContain('long._domainkey.example.com');
  });

  it('frees its UDP and TCP port on close', async () => {
    const other = await startDnsServer({ 'x.test': [{ type: 'A', value: '192.0.2.1' }] });
    const used = new dns.Resolver({ timeout: 2000, tries: 1 });
    used.setServers([other.address]);
    expect(await used.resolve4('x.test')).toEqual(['192.0.2.1']);
    // A TXT answer over 512 bytes makes the resolver open a TCP connection, which close() must end too.
    other.setZone({ 'x.test': [{ type: 'TXT', value: 'y'.repeat(2000) }] });
    expect((await used.resolveTxt('x.test'))[0]?.join('')).toHaveLength(2000);
    expect(other.port).not.toBe(server.port);
    await other.close();
    await other.close(); // twice is harmless

    // Both sockets are gone: the same port binds again, on UDP and on TCP.
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(other.port, '127.0.0.1', () => resolve());
    });
    const tcp = createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(other.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });
});
