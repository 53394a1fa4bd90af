import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { vi } from 'vitest';
import { type SqsEmulator, startSqsEmulator } from '../../emulators/sqs/index.ts';
import { createDynamoDbTable } from '../../stores/dynamodb.ts';
import { type Dynalite, startDynalite } from '../helpers/dynalite.ts';
import { startTestSmtpServer, TEST_CA, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/aws/${name}`, import.meta.url), 'utf8')) as T;

/** AWS's own sample SQS event (aws-lambda-go testdata), unchanged. */
export const SAMPLE_SQS_EVENT = fixture<SQSEvent>('sqs-event.json');

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/**
 * A record of the sample event with another id and body: the sample's ARN, region, sender, timestamps and
 * message attributes are kept. `groupId` makes it a FIFO record (group, sequence number, deduplication id).
 */
export function sqsRecord(
  messageId: string,
  body: string,
  options: { receiveCount?: number; groupId?: string; sequence?: number } = {},
): SQSRecord {
  const sample = structuredClone(SAMPLE_SQS_EVENT.Records[0]!);
  const fifo = options.groupId
    ? {
        MessageGroupId: options.groupId,
        SequenceNumber: String(options.sequence ?? 1).padStart(20, '0'),
        MessageDeduplicationId: md5(body),
      }
    : {};
  return {
    ...sample,
    messageId,
    receiptHandle: `AQEB${randomUUID().replaceAll('-', '')}`,
    body,
    md5OfBody: md5(body),
    attributes: { ...sample.attributes, ApproximateReceiveCount: String(options.receiveCount ?? 1), ...fifo },
    ...(options.groupId ? { eventSourceARN: `${sample.eventSourceARN}.fifo` } : {}),
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** A Lambda context as the Node.js runtime passes it, with a real countdown. */
export function lambdaContext(functionName = 'mailroute-queue', timeoutMs = 30_000): Context {
  const end = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/11/29/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** An HTTP API (payload 2.0) or function URL event from the fixtures, for this request. */
export function httpEvent(
  kind: 'api-gateway' | 'function-url',
  request: {
    method?: string;
    path?: string;
    body?: string;
    base64?: boolean;
    query?: Record<string, string>;
    headers?: Record<string, string>;
  } = {},
): APIGatewayProxyEventV2 {
  const event = fixture<APIGatewayProxyEventV2>(
    kind === 'api-gateway' ? 'apigw-v2-event.json' : 'function-url-event.json',
  );
  const { method = 'POST', path = '/v1/send', body = '', query } = request;
  event.rawPath = path;
  event.requestContext.http.method = method;
  event.requestContext.http.path = path;
  if (kind === 'api-gateway') event.routeKey = event.requestContext.routeKey = `${method} ${path}`;
  event.body = request.base64 ? Buffer.from(body).toString('base64') : body;
  event.isBase64Encoded = !!request.base64;
  event.headers = { ...event.headers, ...request.headers, 'content-length': String(Buffer.byteLength(event.body)) };
  if (query) {
    event.queryStringParameters = query;
    event.rawQueryString = new URLSearchParams(query).toString();
  }
  return event;
}

/** Everything the process writes to stdout and stderr while capturing (Powertools writes its JSON lines there). */
export function captureOutput() {
  const chunks: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }),
  );
  return {
    text: () => chunks.join(''),
    /** Every JSON line written. */
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** The CloudWatch EMF lines among the JSON lines, by provider dimension. */
export function emfByProvider(lines: Record<string, unknown>[]): Record<string, Record<string, unknown>> {
  const emf = lines.filter((l) => l._aws);
  return Object.fromEntries(emf.map((l) => [String(l.provider), l]));
}

/** The SMTP username and password every test provider entry is configured with (through a secret reference). */
export const SMTP_USER = 'mailroute-smtp-user';
export const SMTP_PASSWORD = 'mailroute-smtp-password-7f3a';

/** An SES SMTP entry (SES's reply rules) pointing at a test SMTP server. */
export function sesSmtpEntry(name: string, server: TestSmtpServer, credentials: Record<string, unknown>) {
  return {
    name,
    provider: 'ses',
    mode: 'smtp',
    region: 'us-east-1',
    smtpCredentials: credentials,
    smtp: { host: server.host, port: server.port, ca: TEST_CA, servername: 'localhost' },
  };
}

/**
 * Two providers: `primary` (the SMTP server that accepts) and `busy` (one that answers SES's throttle); routes
 * `main` (primary), `busy` (busy alone, so a throttle is retried by the queue) and `fallback` (busy, then primary).
 */
export function routingConfig(primary: TestSmtpServer, busy: TestSmtpServer, credentials: Record<string, unknown>) {
  return {
    providers: [sesSmtpEntry('primary', primary, credentials), sesSmtpEntry('busy', busy, credentials)],
    routes: [
      { name: 'main', providers: ['primary'] },
      { name: 'busy', providers: ['busy'] },
      { name: 'fallback', providers: ['busy', 'primary'] },
    ],
    defaultRoute: 'main',
    // No down-marks that outlive a test: each throttle is seen afresh.
    health: { failureThreshold: 100, cooldownMs: 0 },
    retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, maxThrottleWaitMs: 0 },
  };
}

/** SES's final SMTP reply carries its message id: the provider's message id of every test send. */
export const SES_MESSAGE_ID = '0100018f2c7a1b2c-5d3e4f60-1a2b-4c5d-8e9f-0a1b2c3d4e5f-000000';
export const THROTTLE_FAULT = {
  stage: 'mail',
  reply: '454 Throttling failure: Maximum sending rate exceeded.',
} as const;

export interface AwsWorld {
  primary: TestSmtpServer;
  busy: TestSmtpServer;
  sqs: SqsEmulator;
  db: Dynalite;
  /** A new, empty state table for the functions started from now on: no idempotency or health record leaks. */
  freshTable(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The servers every AWS function test talks to, and the Lambda environment pointing the real SDKs at them:
 * SMTP servers (primary accepts, busy throttles), the SQS emulator, DynamoDB on dynalite with a state table.
 */
export async function startAwsWorld(): Promise<AwsWorld> {
  const [primary, busy, sqs, db] = await Promise.all([
    startTestSmtpServer(),
    startTestSmtpServer(),
    startSqsEmulator(),
    startDynalite(),
  ]);
  primary.acceptReply = busy.acceptReply = `Ok ${SES_MESSAGE_ID}`;
  busy.fault = THROTTLE_FAULT;
  const client = new DynamoDBClient({ endpoint: db.endpoint, region: db.region, credentials: db.credentials });
  const freshTable = async () => {
    const tableName = `mailroute-state-${randomUUID().slice(0, 8)}`;
    // dynalite has no UpdateTimeToLive; the store compares expiries itself.
    await createDynamoDbTable(client, tableName, { timeToLive: false });
    vi.stubEnv('MAILROUTE_STORE_TABLE', tableName);
    return tableName;
  };
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLAMBDAROLE',
    AWS_SECRET_ACCESS_KEY: 'lambda-role-secret',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_ENDPOINT_URL_SQS: sqs.url,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  await freshTable();
  return {
    primary,
    busy,
    sqs,
    db,
    freshTable,
    stop: async () => {
      vi.unstubAllEnvs();
      client.destroy();
      await Promise.all([primary.close(), busy.close(), sqs.close(), db.stop()]);
    },
  };
}

/** A small message whose subject identifies it on the SMTP servers. */
export function message(subject: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: 'app@example.com', to: 'ann@example.net', subject, text: `Body of ${subject}.`, ...extra };
}

/** How many copies of the message with this subject a test SMTP server accepted. */
export function copies(server: TestSmtpServer, subject: string): number {
  return server.received.filter((m) => m.raw.toString('utf8').includes(`\r\nSubject: ${subject}\r\n`)).length;
}
