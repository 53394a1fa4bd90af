import { describe, expect, it } from 'vitest';
import { displayUrl, regionIn } from '../../client/options.ts';
import { deduplicationIdOf, fitId, preparePayload, senderGroupOf } from '../../client/payload.ts';
import { readS3Reference } from '../../client/s3-reference.ts';
import { InvalidMessageError } from '../../core/errors.ts';
import { producerMessage, sha256 } from './aws-fixtures.ts';

describe('the cloud-neutral payload', () => {
  it('is the JSON as written, measured in UTF-8 bytes, with ids from the key or the body', () => {
    const keyed = preparePayload(producerMessage({ text: 'héllo', idempotencyKey: 'k-1' }));
    expect(keyed.body).toBe(JSON.stringify(producerMessage({ text: 'héllo', idempotencyKey: 'k-1' })));
    expect(keyed.bytes).toBe(keyed.body.length + 1);
    expect(deduplicationIdOf(keyed)).toBe(`key:${sha256('k-1')}`);
    const unkeyed = preparePayload(producerMessage());
    expect(deduplicationIdOf(unkeyed)).toBe(`body:${sha256(unkeyed.body)}`);
    expect(senderGroupOf(unkeyed)).toBe('billing@example.com');
  });

  it('refuses what cannot be serialized or is not a message', () => {
    const circular: Record<string, unknown> = producerMessage();
    circular.self = circular;
    expect(() => preparePayload(circular)).toThrow(/cannot be serialized as JSON/);
    expect(() => preparePayload({ ...producerMessage(), metadata: { n: 1n } })).toThrow(InvalidMessageError);
    expect(() => preparePayload(undefined)).toThrow(/must be a JSON object/);
  });

  it('fits ids to SQS: kept when 1-128 printable ASCII, else sha256 of them', () => {
    expect(fitId('tenant-42')).toBe('tenant-42');
    expect(fitId('x'.repeat(128))).toBe('x'.repeat(128));
    expect(fitId('x'.repeat(129))).toBe(`sha256:${sha256('x'.repeat(129))}`);
    expect(fitId('with space')).toBe(`sha256:${sha256('with space')}`);
    expect(fitId('ünïcode')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('reads a region from queue URLs and ARNs, and keeps credentials out of displayed URLs', () => {
    expect(regionIn('https://sqs.eu-west-1.amazonaws.com/123456789012/send.fifo')).toBe('eu-west-1');
    expect(regionIn('https://us-gov-west-1.queue.amazonaws.com/123456789012/send')).toBe('us-gov-west-1');
    expect(regionIn('arn:aws:lambda:ap-southeast-2:123456789012:function:send')).toBe('ap-southeast-2');
    expect(regionIn('send-now')).toBeUndefined();
    expect(displayUrl('https://user:pw@queue.example/1/q?X-Amz-Signature=abc')).toBe('https://queue.example/1/q');
  });

  it('tells an S3 reference from a message', () => {
    expect(readS3Reference({ mailrouteS3Ref: { bucket: 'b', key: 'k' } })).toEqual({ bucket: 'b', key: 'k' });
    expect(readS3Reference(producerMessage())).toBeUndefined();
    expect(readS3Reference({ mailrouteS3Ref: { bucket: 'b' } })).toBeUndefined();
    expect(readS3Reference(null)).toBeUndefined();
  });
});
