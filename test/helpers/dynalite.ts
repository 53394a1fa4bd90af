import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

// dynalite is CommonJS without type declarations; this is the one part of it the tests use.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs?: number }) => Server;

export interface Dynalite {
  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint`. */
  endpoint: string;
  region: string;
  /** dynalite checks that requests are signed, not by whom: any pair works, and it keeps the SDK off IMDS. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/**
 * An in-memory DynamoDB on loopback, in this process. Tables become active at once (`createTableMs: 0`).
 *
 * @example
 * const db = await startDynalite();
 * const client = new DynamoDBClient({ endpoint: db.endpoint, region: db.region, credentials: db.credentials });
 */
export async function startDynalite(): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'dynalite', secretAccessKey: 'dynalite' },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        // The SDK keeps its sockets alive; without this, close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}
