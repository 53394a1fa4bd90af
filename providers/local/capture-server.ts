import type { AddressInfo } from 'node:net';
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  capture.port = (server.server.address() as AddressInfo).port;
  capture.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return capture;
}
