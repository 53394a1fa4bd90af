import { generateKeyPairSync } from 'node:crypto';
import { authenticate } from 'mailauth';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Mailer } from '../../core/mailer.ts';
import { resolverFor, startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { expectRichMime, mailerFor, RICH_ENVELOPE, smtpAt } from '../helpers/mailer.ts';
import { richMessage } from '../helpers/messages.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

const SELECTOR = 'mr2026';
const KEY_NAME = `${SELECTOR}._domainkey.example.com`;

const keyPair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = keyPair();
/** The DKIM key record of a public key: its SubjectPublicKeyInfo, DER, in base64 (RFC 6376 §3.6.1). */
const keyRecord = (publicKey: ReturnType<typeof keyPair>['publicKey']) =>
  `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

let relay: TestSmtpServer;
let dns: TestDnsServer;
let mailer: Mailer;
/** The message as the receiving server took it, signed by mailroute; sent once, checked against each DNS state. */
let received: Buffer;

beforeAll(async () => {
  vi.stubEnv('MR_TEST_DKIM_KEY', signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  [relay, dns] = await Promise.all([startTestSmtpServer({ authOptional: true }), startDnsServer()]);
  const dkim = { domainName: 'example.com', keySelector: SELECTOR, privateKey: { env: 'MR_TEST_DKIM_KEY' } };
  mailer = mailerFor({ provider: 'gmail', mode: 'smtp', domain: 'example.com', smtp: smtpAt(relay, { dkim }) });
  await mailer.send(richMessage());
  expect(relay.received).toHaveLength(1);
  expect(relay.received[0]?.envelope).toEqual(RICH_ENVELOPE);
  received = relay.received[0]!.raw;
  // Text, html, an attachment, an inline image and a non-ASCII subject: the whole of richMessage() arrived intact.
  await expectRichMime(received);
});
afterEach(() => {
  dns.queries.length = 0;
});
afterAll(async () => {
  await mailer?.close();
  await Promise.all([relay?.close(), dns?.close()]);
  vi.unstubAllEnvs();
});

/**
 * What a receiving MTA concludes of the message's DKIM signature, looking its key up on the test DNS server. Strict
 * by default: mailauth then also holds the signature to RFC 6376's syntax, and reports a body hash mismatch as "fail".
 */
async function verify(raw: Buffer, { keyLookedUp = true, strict = true } = {}) {
  const result = await authenticate(raw, {
    resolver: resolverFor(dns),
    ip: '127.0.0.1',
    helo: 'localhost',
    sender: RICH_ENVELOPE.from,
    mta: 'test',
    disableArc: true,
    disableBimi: true,
    strict,
  });
  expect(result.dkim.results).toHaveLength(1);
  const [signature] = result.dkim.results;
  // The verifier looked the key up where the signature says, on this server (not once the body hash is wrong).
  if (keyLookedUp) expect(dns.queries).toContainEqual({ name: KEY_NAME, type: 'TXT' });
  return signature!;
}

describe('DKIM signatures of SMTP mode, as a receiver verifies them (mailauth, key in DNS)', () => {
  it('pass with the published key', async () => {
    dns.setZone({ [KEY_NAME]: [{ type: 'TXT', value: keyRecord(signing.publicKey) }] });
    const signature = await verify(received);
    expect(signature.status.result).toBe('pass');
    expect(signature).toMatchObject({ signingDomain: 'example.com', selector: SELECTOR, algo: 'rsa-sha256' });
    expect(signature.status.aligned).toBe('example.com');
    expect(signature.modulusLength).toBe(2048);
    expect(signature.bodyHash).toBe(signature.bodyHashExpecting);
  });

  it('fail when DNS publishes another key for the selector', async () => {
    dns.setZone({ [KEY_NAME]: [{ type: 'TXT', value: keyRecord(keyPair().publicKey) }] });
    const signature = await verify(received);
    expect(signature.status.result).toBe('fail');
    // The body is intact: it is the header signature that does not verify.
    expect(signature.bodyHash).toBe(signature.bodyHashExpecting);
  });

  it('fail when one byte of the body changes after signing (body hash)', async () => {
    dns.setZone({ [KEY_NAME]: [{ type: 'TXT', value: keyRecord(signing.publicKey) }] });
    const bodyStart = received.indexOf('\r\n\r\n') + 4;
    const at = received.indexOf('The report is attached.', bodyStart);
    expect(bodyStart).toBeGreaterThan(4);
    expect(at).toBeGreaterThan(bodyStart);
    const altered = Buffer.from(received);
    altered[at] = 't'.charCodeAt(0);
    expect(altered.equals(received)).toBe(false);
    const signature = await verify(altered, { keyLookedUp: false });
    expect(signature.status).toMatchObject({ result: 'fail', comment: 'body hash did not verify' });
    expect(signature.bodyHash).not.toBe(signature.bodyHashExpecting);
    // mailauth's lenient default calls the same finding "neutral" (RFC 6376 §6.3 calls it PERMFAIL): not a pass either.
    const lenient = await verify(altered, { keyLookedUp: false, strict: false });
    expect(lenient.status).toMatchObject({ result: 'neutral', comment: 'body hash did not verify' });
  });

  it('do not pass when no key is published for the selector', async () => {
    dns.setZone({ 'example.com': [{ type: 'TXT', value: 'v=spf1 ip4:127.0.0.1 -all' }] });
    const signature = await verify(received);
    expect(signature.status.result).not.toBe('pass');
    expect(signature.status).toMatchObject({ result: 'neutral', comment: 'no key' });
  });
});
