import { type KeyObject, randomBytes, randomUUID, sign as rsaSign } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { generate } from 'selfsigned';

/** The host SNS signing certificates are served from in us-east-1; the agent sends it to loopback. */
export const SNS_HOST = 'sns.us-east-1.amazonaws.com';

/** The fields a test gives; the rest (MessageId, TopicArn, Timestamp, signature fields) get defaults. */
export interface EnvelopeFields {
  Type: string;
  Message: string;
  MessageId?: string;
  TopicArn?: string;
  Timestamp?: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
  UnsubscribeURL?: string;
}

export interface SignOptions {
  /** SNS SignatureVersion: 1 is SHA1withRSA, 2 SHA256withRSA (default 2). */
  version?: '1' | '2';
  /** The key to sign with instead of the certificate's own (a forged signature). */
  key?: KeyObject | string;
  /** The SigningCertURL to put in the envelope instead of the served one. */
  certUrl?: string;
  /** The Lambda record's `Sns` spelling: SigningCertUrl, SubscribeUrl, UnsubscribeUrl, Subject null when absent. */
  lambda?: boolean;
}

export interface SnsSigner {
  /** `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<32 hex>.pem`, served on loopback. */
  certUrl: string;
  topicArn: string;
  /** Fetches over real TLS from the loopback server: the SNS host resolves to 127.0.0.1, the test CA is trusted. */
  agent: https.Agent;
  /** The test CA's certificate (PEM). */
  ca: string;
  /** How many times the certificate was fetched. */
  readonly certRequests: number;
  /** The path of every request the server answered, the certificate's and any other. */
  readonly requests: readonly string[];
  /** Another agent to the same server, trusting `ca` (the system's CAs when absent, so not the server's). */
  agentTrusting(ca?: string): https.Agent;
  /** A signed envelope, canonicalized as SNS does. */
  sign(fields: EnvelopeFields, options?: SignOptions): Record<string, unknown>;
  stop(): Promise<void>;
}

/** The fields SNS signs, in its order; Subject only when the notification has one. */
const SIGNED_KEYS: Record<string, readonly string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** SNS's string to sign: `key\nvalue\n` for each signed field present, in order. */
export function stringToSign(fields: Record<string, unknown>): string {
  const keys = SIGNED_KEYS[String(fields.Type)] ?? SIGNED_KEYS.Notification!;
  return keys
    .filter((key) => typeof fields[key] === 'string')
    .map((key) => `${key}\n${fields[key] as string}\n`)
    .join('');
}

/**
 * Signs SNS envelopes the way SNS does, with a certificate for sns.us-east-1.amazonaws.com issued by a test CA and
 * served over HTTPS on 127.0.0.1 (a free port). Its agent resolves that host to 127.0.0.1 and connects to the
 * server's port (the URL, like AWS's, has none), trusting only the test CA: the code under test fetches the
 * certificate exactly as it would from AWS.
 */
export async function startSnsSigner(
  topicArn = 'arn:aws:sns:us-east-1:123456789012:mailroute-events',
): Promise<SnsSigner> {
  const ca = await generate([{ name: 'commonName', value: 'mailroute test CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: SNS_HOST }], {
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: SNS_HOST }] },
    ],
  });
  const path = `/SimpleNotificationService-${randomBytes(16).toString('hex')}.pem`;
  let certRequests = 0;
  const requests: string[] = [];
  const server = https.createServer({ key: leaf.private, cert: leaf.cert }, (req, res) => {
    requests.push(req.url ?? '');
    if (req.method === 'GET' && req.url === path) {
      certRequests++;
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(leaf.cert);
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const agents = [new LoopbackAgent(port, ca.cert)];
  const agent = agents[0]!;
  const certUrl = `https://${SNS_HOST}${path}`;

  return {
    certUrl,
    topicArn,
    agent,
    ca: ca.cert,
    get certRequests() {
      return certRequests;
    },
    requests,
    agentTrusting(trusted) {
      const other = new LoopbackAgent(port, trusted);
      agents.push(other);
      return other;
    },
    sign(fields, options = {}) {
      const envelope: Record<string, unknown> = {
        MessageId: randomUUID(),
        TopicArn: topicArn,
        Timestamp: new Date().toISOString(),
        ...fields,
      };
      const version = options.version ?? '2';
      const signature = rsaSign(
        version === '1' ? 'RSA-SHA1' : 'RSA-SHA256',
        Buffer.from(stringToSign(envelope)),
        options.key ?? leaf.private,
      ).toString('base64');
      envelope.SignatureVersion = version;
      envelope.Signature = signature;
      const signingCertUrl = options.certUrl ?? certUrl;
      if (!options.lambda) return { ...envelope, SigningCertURL: signingCertUrl };
      const { SubscribeURL, UnsubscribeURL, ...rest } = envelope;
      return {
        ...rest,
        Subject: rest.Subject ?? null,
        SigningCertUrl: signingCertUrl,
        ...(SubscribeURL === undefined ? {} : { SubscribeUrl: SubscribeURL }),
        ...(UnsubscribeURL === undefined ? {} : { UnsubscribeUrl: UnsubscribeURL }),
        MessageAttributes: {},
      };
    },
    async stop() {
      for (const each of agents) each.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves the SNS host (only it) to 127.0.0.1; any other name fails, so nothing leaves the machine. */
const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  if (hostname !== SNS_HOST) {
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    return;
  }
  if (options.all) {
    (callback as unknown as (err: null, addresses: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
    return;
  }
  callback(null, '127.0.0.1', 4);
};

/**
 * An agent that fetches `https://sns.us-east-1.amazonaws.com/...` from the loopback server: the name resolves to
 * 127.0.0.1 through `lookup`, and a connection to the default port 443 goes to the server's port instead. TLS
 * still checks the server's certificate against the host name, trusting the test CA only.
 */
class LoopbackAgent extends https.Agent {
  readonly #port: number;
  constructor(port: number, ca: string | undefined) {
    super({ ...(ca === undefined ? {} : { ca }), lookup: loopbackLookup, keepAlive: false });
    this.#port = port;
  }
  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const port = Number(options.port ?? 443) === 443 ? this.#port : options.port;
    return super.createConnection({ ...options, port }, callback);
  }
}
