import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleAuthenticationDetailsProvider } from 'oci-common';
import type { QueueClient } from 'oci-queue';
import { vi } from 'vitest';
import { createOciQueueClient } from '../../client/oci.ts';
import { type OciQueueEmulator, startOciQueueEmulator } from '../../emulators/oci-queue/server.ts';
import { type OciVaultEmulator, startOciVaultEmulator } from '../../emulators/oci-vault/server.ts';
import { startTestSmtpServer, TEST_CA, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

export const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaamailroutetenancy';
export const USER = 'ocid1.user.oc1..aaaaaaaamailrouteuser';
export const FINGERPRINT = '3c:9a:07:51:2e:44:b1:8f:60:d2:7e:19:aa:05:c3:6b';
export const SEND_QUEUE = 'ocid1.queue.oc1.eu-frankfurt-1.amaaaaaamailroutesend';
export const FAILED_QUEUE = 'ocid1.queue.oc1.eu-frankfurt-1.amaaaaaamailroutefailed';
export const SMTP_PASSWORD_SECRET = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaamailroutesmtppass';
export const SMTP_USER = 'ocid1.user.oc1..aaaaaaaasmtpuser@ocid1.tenancy.oc1..aaaaaaaamailroutetenancy';
export const SMTP_PASSWORD = 'oci-smtp-password-from-vault-5Tq9';
/** The send queue's `dead_letter_queue_delivery_count` in these tests. */
export const MAX_DELIVERIES = 3;

const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
/** The function's (and the producers') API signing key, and one the emulators do not know. */
export const apiKey = rsa();
export const otherKey = rsa();
export const keyId = `${TENANCY}/${USER}/${FINGERPRINT}`;

export const signer = (privateKey = apiKey.privateKey) =>
  new SimpleAuthenticationDetailsProvider(TENANCY, USER, FINGERPRINT, privateKey, null);

/** An OCI SMTP entry (OCI's SMTP reply rules) pointing at a test SMTP server; the password comes from Vault. */
export function ociSmtpEntry(name: string, server: TestSmtpServer, passwordSecret = SMTP_PASSWORD_SECRET) {
  return {
    name,
    provider: 'oci',
    mode: 'smtp',
    region: 'eu-frankfurt-1',
    smtpCredentials: { username: { env: 'MR_OCI_SMTP_USER' }, password: { ociVault: passwordSecret } },
    smtp: { host: server.host, port: server.port, ca: TEST_CA, servername: 'localhost' },
  };
}

/** `primary` accepts; `busy` answers 454 to MAIL FROM, alone on route `busy`, so its records are retried. */
export function routingConfig(primary: TestSmtpServer, busy: TestSmtpServer, passwordSecret?: string) {
  return {
    providers: [ociSmtpEntry('primary', primary, passwordSecret), ociSmtpEntry('busy', busy, passwordSecret)],
    routes: [
      { name: 'main', providers: ['primary'] },
      { name: 'busy', providers: ['busy'] },
    ],
    defaultRoute: 'main',
    health: { failureThreshold: 100, cooldownMs: 0 },
    retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, maxThrottleWaitMs: 0 },
  };
}

export const THROTTLE_FAULT = {
  stage: 'mail',
  reply: '454 Throttling failure: Maximum sending rate exceeded.',
} as const;

export interface FnResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface OciWorld {
  primary: TestSmtpServer;
  busy: TestSmtpServer;
  queues: OciQueueEmulator;
  vault: OciVaultEmulator;
  /** A QueueClient of the emulator, signed with the test key (the "other services" side). */
  client: QueueClient;
  /** Starts the real fdk listener on a fresh socket in a new module graph (a new container). */
  startFunction(): Promise<void>;
  /** Stops the listener (fdk's stop function) and removes its socket files. */
  stopFunction(): void;
  /** `POST /call` over the unix socket, as Fn's agent does. */
  invoke(body: string, headers?: Record<string, string>): Promise<FnResponse>;
  /**
   * One move of Connector Hub: GetMessages (up to 10) from the send queue, invoke the function with them as a
   * JSON array (with these headers over Fn's, such as another `Fn-Deadline`), DeleteMessage each when it
   * succeeded, leave them (visible again) when it failed.
   */
  connectorHubMove(headers?: Record<string, string>): Promise<{ delivered: number; response?: FnResponse }>;
  stop(): Promise<void>;
}

/**
 * The servers an OCI function test talks to and the function's environment pointing at them: SMTP servers
 * (primary accepts, busy throttles), the OCI Queue emulator (send queue with a dead-letter delivery count,
 * failed queue), the OCI Vault emulator holding the SMTP password.
 */
export async function startOciWorld(): Promise<OciWorld> {
  const keys = [{ keyId, publicKeyPem: apiKey.publicKey }];
  const [primary, busy, queues, vault] = await Promise.all([
    startTestSmtpServer(),
    startTestSmtpServer(),
    startOciQueueEmulator({ keys }),
    startOciVaultEmulator({ keys, secrets: { [SMTP_PASSWORD_SECRET]: SMTP_PASSWORD } }),
  ]);
  busy.fault = THROTTLE_FAULT;
  queues.createQueue(SEND_QUEUE, { visibilityInSeconds: 0, deadLetterQueueDeliveryCount: MAX_DELIVERIES });
  queues.createQueue(FAILED_QUEUE);
  const dir = mkdtempSync(join(tmpdir(), 'mr-fn-'));
  const socket = join(dir, 'fn.sock');
  const env: Record<string, string> = {
    FN_FORMAT: 'http-stream',
    FN_LISTENER: `unix:${socket}`,
    FN_APP_NAME: 'mailroute',
    FN_FN_NAME: 'mailroute',
    MAILROUTE_OCI_TENANCY: TENANCY,
    MAILROUTE_OCI_USER: USER,
    MAILROUTE_OCI_FINGERPRINT: FINGERPRINT,
    MAILROUTE_OCI_PRIVATE_KEY: apiKey.privateKey.replace(/\n/g, '\\n'),
    MAILROUTE_OCI_VAULT_ENDPOINT: vault.url,
    MAILROUTE_FAILED_QUEUE_ID: FAILED_QUEUE,
    MAILROUTE_FAILED_QUEUE_ENDPOINT: queues.url,
    MAILROUTE_QUEUE_ID: SEND_QUEUE,
    MAILROUTE_QUEUE_ENDPOINT: queues.url,
    MR_OCI_SMTP_USER: SMTP_USER,
    MAILROUTE_CONFIG: JSON.stringify(routingConfig(primary, busy)),
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const client = createOciQueueClient(queues.url, signer());
  let stopListener: (() => void) | undefined;

  const removeSocket = () => {
    // fdk listens on `fn.sock.tmp` and links `fn.sock` to it; a leftover of either makes it exit the process.
    for (const file of [socket, `${socket}.tmp`]) rmSync(file, { force: true });
  };
  const world: OciWorld = {
    primary,
    busy,
    queues,
    vault,
    client,
    async startFunction() {
      world.stopFunction();
      vi.resetModules();
      stopListener = (await import('../../functions/oci/func.ts')).stop;
      for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 5));
      if (!existsSync(socket)) throw new Error('the fdk listener did not come up');
    },
    stopFunction() {
      try {
        stopListener?.();
      } catch {
        // the socket link is already gone
      }
      stopListener = undefined;
      removeSocket();
    },
    invoke: (body, headers = {}) => invoke(socket, body, headers),
    async connectorHubMove(headers = {}) {
      const got = await client.getMessages({ queueId: SEND_QUEUE, limit: 10, visibilityInSeconds: 0 });
      const messages = got.getMessages.messages;
      if (messages.length === 0) return { delivered: 0 };
      const response = await invoke(socket, JSON.stringify(messages), headers);
      if (response.status === 200) {
        for (const m of messages) await client.deleteMessage({ queueId: SEND_QUEUE, messageReceipt: m.receipt });
      }
      return { delivered: messages.length, response };
    },
    async stop() {
      world.stopFunction();
      vi.unstubAllEnvs();
      client.close();
      await Promise.all([primary.close(), busy.close(), queues.close(), vault.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** The headers Fn's agent sends with every call; `Fn-Deadline` 60 s away. */
export function fnHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Fn-Call-Id': `01J${Math.random().toString(36).slice(2, 12).toUpperCase()}`,
    'Fn-Deadline': new Date(Date.now() + 60_000).toISOString(),
    'Content-Type': 'application/json',
    ...extra,
  };
}

/** The headers API Gateway adds for an HTTP request to the function. */
export function gatewayHeaders(method: string, url: string, headers: Record<string, string> = {}) {
  const forwarded = Object.fromEntries(Object.entries(headers).map(([k, v]) => [`Fn-Http-H-${k}`, v]));
  return fnHeaders({ 'Fn-Intent': 'httprequest', 'Fn-Http-Method': method, 'Fn-Http-Request-Url': url, ...forwarded });
}

/** A small message whose subject identifies it on the SMTP servers. */
export function message(subject: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: 'app@example.com', to: 'ann@example.net', subject, text: `Body of ${subject}.`, ...extra };
}

/** How many copies of the message with this subject a test SMTP server accepted. */
export function copies(server: TestSmtpServer, subject: string): number {
  return server.received.filter((m) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`)).length;
}

function invoke(socketPath: string, body: string, headers: Record<string, string>): Promise<FnResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/call', method: 'POST', agent: false, headers: { ...fnHeaders(), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
