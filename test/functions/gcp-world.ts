import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import { type PubSubEmulator, type PubSubStoredMessage, startPubSubEmulator } from '../../emulators/pubsub/index.ts';
import { startTestSmtpServer, TEST_CA, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

export const PROJECT = 'mailroute-tests';
export const RELAY_USER = 'relay@example.com';
/** The relay's SMTP AUTH password, "mounted from Secret Manager" as GMAIL_RELAY_PASSWORD. */
export const RELAY_PASSWORD = 'gmail-relay-app-password-9c1e';
/** Gmail's relay answer to a sender over its rate, as the brief's throttled provider gives it. */
export const THROTTLE_FAULT = { stage: 'mail', reply: '454 4.7.0 Too many messages, slow down' } as const;

/** A Gmail relay entry (SMTP AUTH with a password, the Workspace domain as EHLO name) on a test SMTP server. */
export function relayEntry(name: string, server: TestSmtpServer) {
  return {
    name,
    provider: 'gmail',
    mode: 'smtp',
    domain: 'example.com',
    smtpAuth: 'password',
    smtpCredentials: { username: { env: 'GMAIL_RELAY_USER' }, password: { env: 'GMAIL_RELAY_PASSWORD' } },
    smtp: { host: server.host, port: server.port, ca: TEST_CA, servername: 'localhost' },
  };
}

/** Routes `main` (the relay) and `busy` (a relay that throttles, alone, so the queue retries it). */
export function gcpConfig(relay: TestSmtpServer, busy: TestSmtpServer, extra: Record<string, unknown> = {}) {
  return {
    providers: [relayEntry('relay', relay), relayEntry('busy', busy)],
    routes: [
      { name: 'main', providers: ['relay'] },
      { name: 'busy', providers: ['busy'] },
    ],
    defaultRoute: 'main',
    health: { failureThreshold: 100, cooldownMs: 0 },
    retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, maxThrottleWaitMs: 0 },
    ...extra,
  };
}

export interface GcpWorld {
  relay: TestSmtpServer;
  busy: TestSmtpServer;
  pubsub: PubSubEmulator;
  sendTopic: string;
  failedTopic: string;
  stop(): Promise<void>;
}

/**
 * The servers the GCP function tests talk to and the environment Cloud Functions would give: two SMTP servers
 * standing in for the Gmail relay, the Pub/Sub emulator (send and failed topics) which is also the metadata
 * server the runtime service account's tokens come from, and the secret mounted as an environment variable.
 */
export async function startGcpWorld(): Promise<GcpWorld> {
  const [relay, busy, pubsub] = await Promise.all([
    startTestSmtpServer(),
    startTestSmtpServer(),
    startPubSubEmulator({ project: PROJECT }),
  ]);
  busy.fault = THROTTLE_FAULT;
  const sendTopic = pubsub.createTopic(PROJECT, 'mailroute-send');
  const failedTopic = pubsub.createTopic(PROJECT, 'mailroute-failed');
  const env: Record<string, string> = {
    MAILROUTE_CONFIG: JSON.stringify(gcpConfig(relay, busy)),
    MAILROUTE_SEND_TOPIC: sendTopic,
    MAILROUTE_FAILED_TOPIC: failedTopic,
    MAILROUTE_PUBSUB_API_ROOT: pubsub.url,
    GMAIL_RELAY_USER: RELAY_USER,
    GMAIL_RELAY_PASSWORD: RELAY_PASSWORD,
    GCE_METADATA_HOST: pubsub.metadataHost,
    GOOGLE_APPLICATION_CREDENTIALS: '',
    K_SERVICE: 'mailroute-queue',
    FUNCTION_TARGET: 'mailrouteQueue',
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  return {
    relay,
    busy,
    pubsub,
    sendTopic,
    failedTopic,
    stop: async () => {
      vi.unstubAllEnvs();
      await Promise.all([relay.close(), busy.close(), pubsub.close()]);
    },
  };
}

export interface RunningFunction {
  url: string;
  close(): Promise<void>;
}

/**
 * A new instance (cold start: every module of ours loaded afresh) of a function, served by the Functions
 * Framework's own server (`getTestServer`) on a loopback port.
 */
export async function startFunction(
  name: 'mailrouteQueue' | 'mailrouteHttp' | 'mailrouteUnsubscribe',
): Promise<RunningFunction> {
  vi.resetModules();
  await import('../../functions/gcp/index.ts');
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const server: Server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The CloudEvent Eventarc sends for a Pub/Sub message (`messagePublished`), as the CloudEvents SDK models it. */
export function messagePublished(message: PubSubStoredMessage, deliveryAttempt?: number) {
  const [, project, , topic] = message.topic.split('/');
  return {
    specversion: '1.0',
    id: message.messageId,
    source: `//pubsub.googleapis.com/projects/${project}/topics/${topic}`,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    time: message.publishTime,
    datacontenttype: 'application/json',
    data: {
      message: {
        data: message.data,
        ...(Object.keys(message.attributes).length ? { attributes: message.attributes } : {}),
        messageId: message.messageId,
        message_id: message.messageId,
        publishTime: message.publishTime,
        publish_time: message.publishTime,
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
      },
      subscription: `projects/${project}/subscriptions/eventarc-europe-west1-mailroute-queue-${randomUUID().slice(0, 8)}-sub-123`,
      ...(deliveryAttempt ? { deliveryAttempt } : {}),
    },
  };
}

export type CloudEventJson = ReturnType<typeof messagePublished> | Record<string, unknown>;

/**
 * POSTs a CloudEvent to a function over HTTP as Eventarc does: binary mode (context in `ce-*` headers, the data
 * as the JSON body) or structured mode (the whole event as `application/cloudevents+json`).
 */
export async function deliver(
  fn: RunningFunction,
  event: CloudEventJson,
  mode: 'binary' | 'structured' = 'binary',
): Promise<{ status: number; text: string }> {
  const { data, ...context } = event as Record<string, unknown>;
  const init: RequestInit =
    mode === 'structured'
      ? { headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) }
      : {
          headers: {
            'content-type': 'application/json',
            ...Object.fromEntries(
              Object.entries(context)
                .filter(([k]) => k !== 'datacontenttype')
                .map(([k, v]) => [`ce-${k}`, String(v)]),
            ),
          },
          body: data === undefined ? '' : JSON.stringify(data),
        };
  const response = await fetch(fn.url, { method: 'POST', ...init });
  return { status: response.status, text: await response.text() };
}

/** A small message whose subject identifies it on the SMTP servers. */
export function message(subject: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: 'app@example.com', to: 'ann@example.net', subject, text: `Body of ${subject}.`, ...extra };
}

/** How many copies of the message with this subject a test SMTP server accepted. */
export function copies(server: TestSmtpServer, subject: string): number {
  return server.received.filter((m) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`)).length;
}

/**
 * What the functions write while capturing: their JSON log lines (stdout) and what the framework itself logs
 * (stderr: the one-line error of an event answered 500).
 */
export function captureOutput() {
  const chunks: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }),
  );
  // The framework logs through console.error, which vitest takes over before it reaches process.stderr.
  const consoleError = vi.spyOn(globalThis.console, 'error').mockImplementation((...args: unknown[]) => {
    chunks.push(`${args.map(String).join(' ')}\n`);
  });
  return {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
      consoleError.mockRestore();
    },
  };
}
