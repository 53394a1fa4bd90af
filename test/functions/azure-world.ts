import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { InvocationContext, type LogHandler } from '@azure/functions';
import { QueueServiceClient } from '@azure/storage-queue';
import { vi } from 'vitest';
import type { MessageInput } from '../../core/message/message.ts';
import { type AcsEmulator, startAcsEmulator } from '../../emulators/acs/index.ts';
import { type Azurite, startAzurite } from '../helpers/azurite.ts';
import { smtpAt } from '../helpers/mailer.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

/** The Entra application secret the ACS SMTP entry signs in with, through an app setting (a Key Vault reference). */
export const ACS_SMTP_SECRET = 'acs-entra-client-secret-5d1c';

/**
 * Two ACS entries: `acs-smtp` (SMTP, to the test server that accepts) and `acs-api` (the API, on the ACS
 * emulator, which answers 429 to every send). Routes `main` (acs-smtp) and `busy` (acs-api alone, so a throttle is
 * retried through the queue). Secrets are `{ env }` references, as Key Vault references reach the function.
 */
export function azureRoutingConfig(primary: TestSmtpServer) {
  return {
    providers: [
      {
        name: 'acs-smtp',
        provider: 'azure',
        mode: 'smtp',
        resourceName: 'mailroute-acs',
        entra: {
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          clientId: '0f5c7a1e-3b2d-4c8e-9a6f-1d2e3f4a5b6c',
          clientSecret: { env: 'MR_ACS_SMTP_SECRET' },
        },
        smtp: smtpAt(primary),
      },
      { name: 'acs-api', provider: 'azure', mode: 'api', connectionString: { env: 'MR_ACS_CONNECTION_STRING' } },
    ],
    routes: [
      { name: 'main', providers: ['acs-smtp'] },
      { name: 'busy', providers: ['acs-api'] },
    ],
    defaultRoute: 'main',
    // No down-marks that outlive a test: each throttle is seen afresh.
    health: { failureThreshold: 100, cooldownMs: 0 },
    retry: { maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 20, maxThrottleWaitMs: 0 },
  };
}

export interface AzureWorld {
  azurite: Azurite;
  primary: TestSmtpServer;
  acs: AcsEmulator;
  queues: QueueServiceClient;
  /** New send and failed queues for the functions started from now on (app settings stubbed). */
  freshQueues(): Promise<{ send: string; failed: string }>;
  /** A new, empty state table (`MAILROUTE_STORE_TABLE`): no idempotency or health record leaks between tests. */
  freshTable(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The servers every Azure function test talks to, and the app settings pointing the functions at them: Azurite
 * (queue and table) as `AzureWebJobsStorage`, the SMTP test server, the ACS emulator (throttling).
 */
export async function startAzureWorld(): Promise<AzureWorld> {
  const [azurite, primary, acs] = await Promise.all([
    startAzurite({ services: ['queue', 'table'] }),
    startTestSmtpServer(),
    startAcsEmulator(),
  ]);
  acs.faults.add({ status: 429, errorCode: 'TooManyRequests', fraction: 1 });
  const queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
  const settings: Record<string, string> = {
    AzureWebJobsStorage: azurite.connectionString,
    MR_ACS_SMTP_SECRET: ACS_SMTP_SECRET,
    MR_ACS_CONNECTION_STRING: acs.connectionString,
    MAILROUTE_CONFIG: JSON.stringify(azureRoutingConfig(primary)),
  };
  for (const [name, value] of Object.entries(settings)) vi.stubEnv(name, value);
  const suffix = () => randomUUID().slice(0, 8);
  const world: AzureWorld = {
    azurite,
    primary,
    acs,
    queues,
    async freshQueues() {
      const id = suffix();
      const names = { send: `mailroute-send-${id}`, failed: `mailroute-failed-${id}` };
      await Promise.all([queues.createQueue(names.send), queues.createQueue(names.failed)]);
      vi.stubEnv('MAILROUTE_SEND_QUEUE', names.send);
      vi.stubEnv('MAILROUTE_FAILED_QUEUE', names.failed);
      return names;
    },
    async freshTable() {
      const tableName = `mailroutestate${suffix()}`;
      const options = { allowInsecureConnection: true };
      await TableClient.fromConnectionString(azurite.connectionString, tableName, options).createTable();
      vi.stubEnv('MAILROUTE_STORE_TABLE', tableName);
      return tableName;
    },
    async stop() {
      vi.unstubAllEnvs();
      await Promise.all([azurite.stop(), primary.close(), acs.close()]);
    },
  };
  await Promise.all([world.freshQueues(), world.freshTable()]);
  return world;
}

/** What a function wrote through `context.log` and friends: level and text, JSON lines parsed. */
export function captureContextLogs() {
  const entries: { level: string; text: string }[] = [];
  const logHandler: LogHandler = (level, ...args) => {
    entries.push({ level, text: args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ') });
  };
  return {
    logHandler,
    entries,
    text: () => entries.map((e) => e.text).join('\n'),
    lines: () =>
      entries
        .filter((e) => e.text.startsWith('{'))
        .map((e): Record<string, unknown> => ({ level: e.level, ...JSON.parse(e.text) })),
    context: (functionName = 'http-send') => new InvocationContext({ functionName, logHandler }),
  };
}

/** A small message whose subject identifies it on the SMTP server. */
export function message(subject: string, extra: Record<string, unknown> = {}): MessageInput {
  return {
    from: 'app@example.com',
    to: 'ann@example.net',
    subject,
    text: `Body of ${subject}.`,
    ...extra,
  } as MessageInput;
}

/** How many copies of the message with this subject the SMTP test server accepted. */
export function copies(server: TestSmtpServer, subject: string): number {
  return server.received.filter((m) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`)).length;
}

/** Every message on a queue, base64-decoded and JSON-parsed (peeked: left on the queue). */
export async function peekJson(queues: QueueServiceClient, queueName: string): Promise<Record<string, unknown>[]> {
  const { peekedMessageItems } = await queues.getQueueClient(queueName).peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')));
}
