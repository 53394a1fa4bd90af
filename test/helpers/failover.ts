import { randomUUID } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { vi } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import type { Attempt } from '../../core/errors.ts';
import { Mailer, type MailerOptions } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { MemoryStore } from '../../stores/memory.ts';
import type { StateStore } from '../../stores/store.ts';
import { TEST_CA, type TestSmtpServer } from './smtp-test-server.ts';

/** The SMTP credentials every failover test entry reads; the test server takes any. */
export const SMTP_CREDENTIALS = {
  username: { env: 'MR_FAILOVER_SMTP_USER' },
  password: { env: 'MR_FAILOVER_SMTP_PASS' },
};

export function stubSmtpSecrets(): void {
  vi.stubEnv('MR_FAILOVER_SMTP_USER', 'failover-user');
  vi.stubEnv('MR_FAILOVER_SMTP_PASS', 'failover-pass');
}

/** `smtp` settings pointing at a host and port (a test server, a tap in front of one, a dead port). */
export function smtpTo(
  target: { host?: string; port: number },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { host: target.host ?? '127.0.0.1', port: target.port, ca: TEST_CA, servername: 'localhost', ...extra };
}

/** An OCI SMTP entry (the generic reading of reply codes) named `name`, at `target`. */
export function ociSmtp(
  name: string,
  target: { host?: string; port: number },
  smtp: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    provider: 'oci',
    mode: 'smtp',
    region: 'eu-frankfurt-1',
    smtpCredentials: SMTP_CREDENTIALS,
    smtp: smtpTo(target, smtp),
  };
}

/** An SES SMTP entry (SES's reply rules: "454 Throttling failure" is a throttle) named `name`, at `target`. */
export function sesSmtp(
  name: string,
  target: { host?: string; port: number },
  smtp: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    provider: 'ses',
    mode: 'smtp',
    region: 'eu-west-1',
    smtpCredentials: SMTP_CREDENTIALS,
    smtp: smtpTo(target, smtp),
  };
}

/**
 * Mailers built from validated configurations by the real adapter factory, closed together. Each Mailer is one
 * "function instance": its own adapters, pools and breakers; give two the same `store` to share state.
 */
export class Mailers {
  private readonly open: Mailer[] = [];

  create(config: Record<string, unknown>, options: MailerOptions = {}): Mailer {
    const providers = builtInProviders;
    const mailer = new Mailer(validateConfig(config, 'test', providers), createAdapter, { providers, ...options });
    this.open.push(mailer);
    return mailer;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((m) => m.close()));
  }
}

/** A failover configuration over `providers`, in that order, with small retry delays and the given health. */
export function failoverConfig(
  providers: Record<string, unknown>[],
  over: { health?: Record<string, unknown>; retry?: Record<string, unknown>; allowDuplicates?: boolean } = {},
): Record<string, unknown> {
  return {
    providers,
    routes: [
      { name: 'main', providers: providers.map((p) => p.name) },
      { name: 'dup-ok', providers: providers.map((p) => p.name), allowDuplicates: true },
    ],
    defaultRoute: over.allowDuplicates ? 'dup-ok' : 'main',
    health: { failureThreshold: 3, cooldownMs: 60_000, ...over.health },
    retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, ...over.retry },
  };
}

/** A small message whose subject identifies it on every server. */
export function mail(subject: string, to: string[] = ['user@example.net']): Record<string, unknown> {
  return { from: 'app@example.com', to, subject, text: `Body of ${subject}.` };
}

/** How many copies of the message with this subject a test SMTP server accepted. */
export function copies(server: TestSmtpServer, subject: string): number {
  return server.received.filter((m) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`)).length;
}

/** `[name, outcome, errorCode]` of each attempt: what the router did, without latencies and messages. */
export function steps(attempts: Attempt[] | undefined): [string, string, string | undefined][] {
  return (attempts ?? []).map((a) => [a.name, a.outcome, a.errorCode]);
}

export function resetServer(server: TestSmtpServer): void {
  server.fault = undefined;
  server.onAccepted = undefined;
  server.received.length = 0;
  server.auths.length = 0;
  server.ehloNames.length = 0;
  server.dataTransactions = 0;
}

/** The rejection of a promise that must reject (a fulfilled one fails the test with its value). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Listening {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TcpTap extends Listening {
  /** While true, new connections are accepted and left hanging (a hung relay); the server behind is not reached. */
  hang: boolean;
}

/**
 * A TCP pass-through in front of a server that counts connections (shows whether an instance tried it at all)
 * and can hang new connections, so a relay can stop answering and recover on the same port.
 */
export async function startTcpTap(target: { host: string; port: number }): Promise<TcpTap> {
  const sockets = new Set<Socket>();
  const state = { port: 0, connections: 0, hang: false, close: async () => {} };
  const server = createServer((socket) => {
    state.connections++;
    if (state.hang) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  Object.assign(state, await listen(server, sockets));
  return state;
}

/** A port nothing listens on: a connection to it is refused. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  const { port, close } = await listen(probe, new Set());
  await close();
  return port;
}

/** A state store backend; `fresh()` gives an empty store (a new table), so tests never see each other's records. */
export interface StoreBackend {
  name: string;
  fresh(): Promise<StateStore>;
  stop(): Promise<void>;
}

export const memoryBackend = (): StoreBackend => ({
  name: 'in-process store',
  fresh: async () => new MemoryStore(),
  stop: async () => {},
});

/** DynamoDB on dynalite, one table per `fresh()`. */
export async function startDynamoBackend(): Promise<StoreBackend> {
  // Imported here, so that files without this backend do not load the SDK.
  const [{ DynamoDBClient }, { createDynamoDbTable, DynamoDbStore }, { startDynalite }] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('../../stores/dynamodb.ts'),
    import('./dynalite.ts'),
  ]);
  const dynalite = await startDynalite();
  const { endpoint, region, credentials } = dynalite;
  const client = new DynamoDBClient({ endpoint, region, credentials });
  return {
    name: 'DynamoDB on dynalite',
    fresh: async () => {
      const tableName = `mailroute-${randomUUID()}`;
      // dynalite has no UpdateTimeToLive; the store compares expiries itself.
      await createDynamoDbTable(client, tableName, { timeToLive: false });
      return new DynamoDbStore({ client, tableName });
    },
    stop: async () => {
      client.destroy();
      await dynalite.stop();
    },
  };
}

/** Azure Table on Azurite, one table per `fresh()`. */
export async function startAzureTableBackend(): Promise<StoreBackend> {
  const [{ TableClient }, { AzureTableStore }, { startAzurite }] = await Promise.all([
    import('@azure/data-tables'),
    import('../../stores/azure-table.ts'),
    import('./azurite.ts'),
  ]);
  const azurite = await startAzurite();
  return {
    name: 'Azure Table on Azurite',
    fresh: async () => {
      const tableName = `mailroute${randomUUID().replaceAll('-', '')}`.slice(0, 40);
      const client = TableClient.fromConnectionString(azurite.connectionString, tableName, {
        allowInsecureConnection: true,
      });
      await client.createTable();
      return new AzureTableStore({ client });
    },
    stop: azurite.stop,
  };
}
