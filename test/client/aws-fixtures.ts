import { createHash } from 'node:crypto';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { MessageInput } from '../../core/message/message.ts';

/** Long enough to be redacted if it ever leaked; the tests check that no error text carries it. */
export const SECRET_ACCESS_KEY = 'emulator-secret-never-printed';
const credentials = { accessKeyId: 'AKIAEMULATOR', secretAccessKey: SECRET_ACCESS_KEY };

/** SDK clients on the emulators, with the SDK's own retries off so each injected fault is seen once. */
export const sqsClient = (endpoint: string) =>
  new SQSClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
export const s3Client = (endpoint: string) =>
  new S3Client({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1, forcePathStyle: true });
export const lambdaClient = (endpoint: string) =>
  new LambdaClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A message written the way a producer writes it: single addresses as strings, a display name, mixed case. */
export function producerMessage(overrides: Partial<MessageInput> = {}): MessageInput {
  return {
    from: 'Billing <Billing@Example.com>',
    to: 'Ann <ann@example.net>',
    subject: 'Your invoice',
    text: 'Invoice attached.',
    metadata: { tenant: 'acme', invoice: 42 },
    ...overrides,
  };
}

/** A message whose JSON is exactly `bytes` bytes long (padded in its text). */
export function messageOfSize(bytes: number, overrides: Partial<MessageInput> = {}): MessageInput {
  const base = producerMessage({ ...overrides, text: '' });
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  return { ...base, text: 'x'.repeat(pad) };
}
