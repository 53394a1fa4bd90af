import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from './child-process.ts';

/** Azurite's built-in development account: public, documented, and accepted by nothing but an emulator. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export type AzuriteService = 'table' | 'queue';

export interface AzuriteOptions {
  /** Which services to start, one child process each. Default: `['table']`. */
  services?: AzuriteService[];
}

export interface Azurite {
  /**
   * A connection string naming every started service's endpoint. It is plain HTTP, so `@azure/data-tables` and
   * `@azure/storage-queue` need `allowInsecureConnection: true`.
   */
  connectionString: string;
  /** `http://127.0.0.1:PORT/devstoreaccount1`, when the table service was started. */
  tableEndpoint?: string;
  /** `http://127.0.0.1:PORT/devstoreaccount1`, when the queue service was started. */
  queueEndpoint?: string;
  accountName: string;
  accountKey: string;
  stop(): Promise<void>;
}

const binDir = fileURLToPath(new URL('../../node_modules/.bin/', import.meta.url));
const REPORT_LISTENING = fileURLToPath(new URL('./report-listening.ts', import.meta.url));

/**
 * Azurite's services as child processes on loopback, in memory (`require('azurite')` does not load outside VS Code).
 * Each starts in about 0.7 s, on port 0: the OS picks a free port as it binds, so no other process can take it
 * first, and the port is read from the child's stderr (`report-listening.ts`).
 *
 * @example
 * const azurite = await startAzurite({ services: ['table', 'queue'] });
 * const options = { allowInsecureConnection: true };
 * const tables = TableClient.fromConnectionString(azurite.connectionString, 'state', options);
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const services = options.services ?? ['table'];
  // In-memory Azurite writes nothing, but it refuses `--location` together with `--inMemoryPersistence`, so a
  // scratch working directory catches anything it might write instead.
  const cwd = await mkdtemp(join(tmpdir(), 'mailroute-azurite-'));
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  };
  // A crashed or interrupted test run must not leave emulators listening behind it.
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    await Promise.all(children.map(stopChild));
    await rm(cwd, { recursive: true, force: true });
  };
  const azurite: Azurite = {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};`,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    stop,
  };
  try {
    await Promise.all(
      services.map(async (service) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            REPORT_LISTENING,
            join(binDir, `azurite-${service}`),
            '--inMemoryPersistence',
            '--silent',
            '--disableTelemetry',
            '--skipApiVersionCheck',
            `--${service}Host`,
            '127.0.0.1',
            `--${service}Port`,
            '0',
          ],
          { cwd, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        children.push(child);
        const port = await listeningPort(child, service);
        const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
        if (service === 'table') azurite.tableEndpoint = endpoint;
        else azurite.queueEndpoint = endpoint;
        azurite.connectionString += `${service === 'table' ? 'TableEndpoint' : 'QueueEndpoint'}=${endpoint};`;
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return azurite;
}

/** The port the child's server bound, from the line `report-listening.ts` writes; fails if the child exits first. */
function listeningPort(child: ChildProcess, service: string, timeoutMs = 25_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const done = (error: Error | undefined, port?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.removeListener('exit', exited);
      if (error) reject(error);
      else resolve(port!);
    };
    // Read to the end (a pipe nobody reads would stall the child once full); kept only until the port is known.
    child.stderr?.on('data', (chunk: Buffer) => {
      if (settled) return;
      stderr += chunk.toString();
      const port = /^mailroute-test-listening:(\d+)\n/m.exec(stderr)?.[1];
      if (port) done(undefined, Number(port));
    });
    const exited = (code: number | null, signal: string | null) =>
      done(new Error(`azurite-${service} exited (${code ?? signal}): ${stderr.trim()}`));
    child.once('exit', exited);
    const timer = setTimeout(
      () => done(new Error(`azurite-${service} did not listen within ${timeoutMs} ms: ${stderr.trim()}`)),
      timeoutMs,
    );
  });
}
