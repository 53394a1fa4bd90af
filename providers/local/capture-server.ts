import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { type OutboxSummary, storeInOutbox } from './outbox.ts';

export interface CaptureServer {
  host: string;
  port: number;
  outboxDir: string;
  close(): Promise<void>;
  /** Called after each message is stored. */
  onStored?: (summary: OutboxSummary) => void;
}

/**
 * The local capture inbox: a real SMTP server on loopback that stores every message it accepts in the outbox.
 * It takes any sender, recipients and (optional) AUTH, as a developer's catch-all should.
 */
export async function startCaptureServer(
  options: { outboxDir: string; host?: string; port?: number; maxBytes?: number } = { outboxDir: '.mailroute/outbox' },
): Promise<CaptureServer> {
  const host = options.host ?? '127.0.0.1';
  const maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
  const capture: CaptureServer = { host, port: 0, outboxDir: options.outboxDir, close: async () => {} };
  const server = new SMTPServer({
    name: 'mailroute-capture',
    banner: 'mailroute local capture inbox',
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    size: maxBytes,
    logger: false,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'capture' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          callback(
            Object.assign(new Error(`552 message exceeds the limit of ${maxBytes} bytes`), { responseCode: 552 }),
          );
          return;
        }
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        storeInOutbox(options.outboxDir, Buffer.concat(chunks), envelope, 'smtp').then(
          (summary) => {
            capture.onStored?.(summary);
            callback(null, `Stored as ${summary.id}`);
          },
          (error: Error) =>
            callback(Object.assign(new Error(`451 could not store: ${error.message}`), { responseCode: 451 })),
        );
      });
    },
  });
  acceptQuotedLocalParts(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  capture.port = (server.server.address() as AddressInfo).port;
  capture.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return capture;
}

/**
 * `MAIL FROM:<…>` / `RCPT TO:<…>` whose local part is an RFC 5321 Quoted-string (qtextSMTP or a quoted-pair; UTF-8
 * too, as SMTPUTF8 allows), after an optional source route. The rest (`@domain>` and any parameters) is smtp-server's.
 */
const QUOTED_PATH =
  /^(\s*(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*<(?:@[^\s,:@<>]+(?:,@[^\s,:@<>]+)*:)?)("(?:[\x20\x21\x23-\x5b\x5d-\x7e\u00a0-\u200a\u200c-\u205f\u2061-\ufefe\uff00-\uffff]|\\[\x20-\x7e])*")(@.*)$/is;

type ParseAddress = (name: string, command: Buffer | string) => { address: string } | false;
type Connection = { _parseAddressCommand: ParseAddress };
type Connecting = { connect(socket: Socket, options: unknown): void; connections: Set<Connection> };

/**
 * The capture inbox takes what the providers take, `"john doe"@example.org` included. smtp-server splits the
 * argument of MAIL FROM and RCPT TO on whitespace (and the address on `@`) before its onMailFrom/onRcptTo hooks run,
 * and no option changes that (`lenientAddressParsing` applies after the split), so a quoted local part with a space
 * is refused with a 501 before any hook could accept it. So each connection of this server parses such a path with a
 * stand-in local part, leaving smtp-server to check everything else (domain, source route, parameters), and puts the
 * quoted local part back into the address. Other SMTP servers in the process are untouched.
 */
function acceptQuotedLocalParts(server: SMTPServer): void {
  const target = server as unknown as Connecting;
  const connect = target.connect.bind(server);
  target.connect = (socket, options) => {
    connect(socket, options);
    // connect() adds the connection it made, synchronously, before the client can send a command.
    const connection = [...target.connections].at(-1);
    if (!connection) return;
    const parse = connection._parseAddressCommand.bind(connection);
    connection._parseAddressCommand = (name, command) => {
      const quoted = QUOTED_PATH.exec(String(command ?? ''));
      if (!quoted) return parse(name, command);
      const [, head, localPart, rest] = quoted as unknown as [string, string, string, string];
      const parsed = parse(name, `${head}q${rest}`);
      if (parsed === false || !parsed.address) return parsed;
      // The domain as smtp-server normalised it (punycode, IP literal), behind the stand-in local part "q".
      return { ...parsed, address: `${localPart}${parsed.address.slice(parsed.address.indexOf('@'))}` };
    };
  };
}
