import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

const FIXTURES = new URL('../fixtures/tls/', import.meta.url);
/** The self-signed certificate of the test servers (CN=localhost, SAN localhost and 127.0.0.1). */
export const TEST_CA = readFileSync(new URL('cert.pem', FIXTURES), 'utf8');
const TEST_KEY = readFileSync(new URL('key.pem', FIXTURES), 'utf8');

/**
 * Where in the session a fault strikes. `ehlo` and `starttls` are the replies to those commands (silent only);
 * `tls` is the TLS handshake after "220 Ready to start TLS" (silent only: the server stops reading); `body` is
 * halfway through the message, before its final dot.
 */
export type FaultStage =
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  | 'tls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'body'
  | 'end-of-data';

/**
 * A fault the server injects: a reply line such as "454 Throttling failure: ..." (the code first), a dropped
 * connection, or silence (the server never answers that stage, and keeps the connection open).
 */
export type Fault = { stage: FaultStage; recipients?: string[] } & (
  | { reply: string }
  | { drop: true }
  | { silent: true }
  /** At the end of DATA only: the message is taken (and recorded) but the reply never comes. */
  | { hold: true }
);

export interface ReceivedMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  ehlo: string;
  secure: boolean;
  user?: string;
}

export interface AuthAttempt {
  method: string;
  username: string;
  password?: string;
  accessToken?: string;
  ehlo: string;
  secure: boolean;
}

export interface TestSmtpServer {
  host: string;
  port: number;
  received: ReceivedMessage[];
  auths: AuthAttempt[];
  /** Every EHLO name the server was greeted with, one per session. */
  ehloNames: string[];
  /** How many times a message body started to arrive (after 354), accepted or not. */
  dataTransactions: number;
  /** The fault of the next commands; set and clear it between sends. */
  fault?: Fault;
  /** The final reply text to an accepted message ("250 " is added). */
  acceptReply: string;
  /** Holds the final reply to an accepted message this long: a busy server (sends take time). */
  acceptDelayMs: number;
  /** Called the moment a message is taken, before the reply goes out: a test crashes its sender here. */
  onAccepted?: () => void;
  /** Connections open now, as the server sees them: 0 once every client has gone (or been cut off). */
  openConnections(): number;
  close(): Promise<void>;
}

export interface TestSmtpServerOptions {
  /** Implicit TLS from the first byte (465-style); default STARTTLS. */
  secure?: boolean;
  /**
   * Offer no STARTTLS at all, and take AUTH in plaintext: a server (or a man in the middle) a client must refuse
   * to authenticate to.
   */
  noStartTls?: boolean;
  /** Take mail without AUTH (an IP-allow-listed relay). */
  authOptional?: boolean;
  /** The SASL mechanisms offered; default PLAIN, LOGIN and XOAUTH2. */
  authMethods?: string[];
}

/** A real SMTP server on 127.0.0.1, port 0, with STARTTLS and AUTH, that records and injects faults. */
export async function startTestSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const state: TestSmtpServer = {
    host: '127.0.0.1',
    port: 0,
    received: [],
    auths: [],
    ehloNames: [],
    dataTransactions: 0,
    acceptReply: 'OK: queued',
    acceptDelayMs: 0,
    openConnections: () => server.connections.size,
    close: async () => {},
  };
  const faultAt = (stage: FaultStage, recipient?: string): Fault | undefined => {
    const fault = state.fault;
    if (fault?.stage !== stage) return undefined;
    if (recipient && fault.recipients && !fault.recipients.includes(recipient)) return undefined;
    return fault;
  };
  const connectionOf = (session: SMTPServerSession) => [...server.connections].find((c) => c.id === session.id);
  const ehloOf = (session: SMTPServerSession) => String(session.hostNameAppearsAs || '');

  const server: SMTPServer = new SMTPServer({
    secure: !!options.secure,
    key: TEST_KEY,
    cert: TEST_CA,
    authMethods: options.authMethods ?? ['PLAIN', 'LOGIN', 'XOAUTH2'],
    authOptional: !!options.authOptional,
    ...(options.noStartTls ? { disabledCommands: ['STARTTLS'], allowInsecureAuth: true } : {}),
    hideENHANCEDSTATUSCODES: true,
    disableReverseLookup: true,
    closeTimeout: 100,
    logger: false,
    onConnect(session, callback) {
      const connection = connectionOf(session);
      if (connection) stallSetup(connection, faultAt('ehlo') ?? faultAt('starttls') ?? faultAt('tls'));
      const fault = faultAt('greeting');
      if (!fault) return callback();
      if ('reply' in fault) return callback(replyError(fault.reply));
      if ('drop' in fault) return setImmediate(() => connectionOf(session)?._socket.destroy());
      // silent: no greeting, ever
    },
    onAuth(auth, session, callback) {
      state.auths.push({
        method: auth.method,
        username: auth.username ?? '',
        ...(typeof auth.password === 'string' ? { password: auth.password } : {}),
        ...(auth.accessToken === undefined ? {} : { accessToken: auth.accessToken }),
        ehlo: ehloOf(session),
        secure: session.secure,
      });
      const fault = faultAt('auth');
      if (fault && 'reply' in fault) return callback(replyError(fault.reply));
      if (fault && 'silent' in fault) return; // no answer to AUTH, ever
      callback(null, { user: auth.username ?? 'user' });
    },
    onMailFrom(_address, session, callback) {
      if (!state.ehloNames.includes(ehloOf(session))) state.ehloNames.push(ehloOf(session));
      const fault = faultAt('mail');
      if (fault && 'reply' in fault) return callback(replyError(fault.reply));
      if (fault && 'silent' in fault) return; // no answer to MAIL FROM, ever
      // A session that never sees DATA has its own DATA fault installed here, on that connection only.
      const dataFault = faultAt('data');
      const connection = connectionOf(session);
      if (dataFault && connection) {
        connection.handler_DATA = (_command, next) => {
          if ('reply' in dataFault) {
            const { code, text } = parseReply(dataFault.reply);
            connection.send(code, text);
          } else if ('drop' in dataFault) connection._socket.destroy();
          // silent: no answer to DATA, ever
          next();
        };
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      const fault = faultAt('rcpt', address.address);
      if (fault && 'reply' in fault) return callback(replyError(fault.reply));
      if (fault && 'silent' in fault) return; // no answer to RCPT TO, ever
      callback();
    },
    onData(stream, session, callback) {
      state.dataTransactions++;
      const chunks: Buffer[] = [];
      const body = faultAt('body');
      const end = faultAt('end-of-data');
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // Stop reading, so that the client's buffers fill and it cannot have written the final dot, then cut.
        if (body && chunks.length === 1) {
          stream.pause();
          setTimeout(() => connectionOf(session)?._socket.destroy(), 100);
        }
      });
      stream.on('end', () => {
        if (end && 'drop' in end) return connectionOf(session)?._socket.destroy();
        if (end && 'silent' in end) return;
        if (end && 'reply' in end) return callback(replyError(end.reply));
        state.received.push({
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          },
          raw: Buffer.concat(chunks),
          ehlo: ehloOf(session),
          secure: session.secure,
          ...(session.user ? { user: String(session.user) } : {}),
        });
        state.onAccepted?.();
        if (end && 'hold' in end) return;
        if (state.acceptDelayMs) setTimeout(() => callback(null, state.acceptReply), state.acceptDelayMs);
        else callback(null, state.acceptReply);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.port = (server.server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const connection of server.connections) connection._socket.destroy();
      server.close(() => resolve());
    });
  return state;
}

/** The parts of smtp-server's connection that a set-up stall replaces (its command handlers are looked up by name). */
interface SetupConnection {
  _socket: { unpipe(): void; pause(): void };
  send(code: number, text: string): void;
  handler_EHLO?: (command: Buffer, next: () => void) => void;
  handler_STARTTLS?: (command: Buffer, next: () => void) => void;
}

/** On one connection: no reply to EHLO or STARTTLS, or "220" to STARTTLS and then no TLS handshake. */
function stallSetup(connection: SetupConnection, fault: Fault | undefined): void {
  if (!fault || !('silent' in fault)) return;
  if (fault.stage === 'ehlo') connection.handler_EHLO = () => {};
  if (fault.stage === 'starttls') connection.handler_STARTTLS = () => {};
  if (fault.stage === 'tls') {
    connection.handler_STARTTLS = () => {
      connection.send(220, 'Ready to start TLS');
      // Stop reading: the client's ClientHello is never answered.
      connection._socket.unpipe();
      connection._socket.pause();
    };
  }
}

function parseReply(reply: string): { code: number; text: string } {
  const match = /^(\d{3})[ -]?(.*)$/.exec(reply);
  if (!match) throw new Error(`a fault reply starts with its code: ${reply}`);
  return { code: Number(match[1]), text: match[2] ?? '' };
}

function replyError(reply: string): Error {
  const { code, text } = parseReply(reply);
  return Object.assign(new Error(text), { responseCode: code });
}
