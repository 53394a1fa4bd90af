import { describe, expect, it } from 'vitest';
import {
  AllProvidersFailedError,
  AmbiguousDeliveryError,
  AuthenticationError,
  ContentRejectedError,
  InvalidMessageError,
  MessageTooLargeError,
  ProviderUnavailableError,
  RecipientRejectedError,
  StateStoreError,
  ThrottledError,
  TransientError,
  UnsupportedFeatureError,
} from '../../core/errors.ts';
import { errorToHttp } from '../../core/runtime/http-api.ts';

describe('error taxonomy', () => {
  it('says for each class whether a retry or another provider may help', () => {
    const table = [
      [new InvalidMessageError([{ path: 'from', message: 'is required' }]), false, false, 400],
      [new UnsupportedFeatureError('tags', { provider: 'gmail' }), false, true, 422],
      [new MessageTooLargeError('the encoded message', 11, 10, 'bytes', { provider: 'azure' }), false, true, 413],
      [new RecipientRejectedError([{ address: 'a@example.com', reason: 'no such user' }]), false, false, 422],
      [new ContentRejectedError('spam'), false, false, 422],
      [new ThrottledError('slow down', { retryAfterMs: 2500 }), true, true, 429],
      [new ProviderUnavailableError('down'), true, true, 503],
      [new TransientError('421'), true, true, 503],
      [new AuthenticationError('535'), false, true, 502],
      [new AmbiguousDeliveryError('dropped after DATA'), false, false, 502],
      [new StateStoreError('claim the idempotency key', { cause: new Error('throttled') }), true, false, 503],
    ] as const;
    for (const [error, retryable, failover, status] of table) {
      expect([error.name, error.retryable, error.failover]).toEqual([error.constructor.name, retryable, failover]);
      expect(errorToHttp(error).status, error.name).toBe(status);
    }
    expect(errorToHttp(new ThrottledError('x', { retryAfterMs: 2500 })).headers['retry-after']).toBe('3');
  });

  it('names the provider and the feature it lacks, and the limit it would break', () => {
    expect(new UnsupportedFeatureError('inline images', { provider: 'oci', mode: 'api' }).message).toBe(
      'oci does not support inline images',
    );
    const tooLarge = new MessageTooLargeError('the encoded message', 11_000_000, 10_485_760, 'bytes', {
      provider: 'azure',
    });
    expect(tooLarge.message).toBe('the encoded message is 11000000 bytes, over the limit of 10485760 bytes of azure');
    expect(tooLarge.toJSON()).toMatchObject({ field: 'the encoded message', limit: 10_485_760, actual: 11_000_000 });
  });

  it('keeps every attempt in all-providers-failed, retryable when one of them was', () => {
    const attempts = [
      {
        name: 'ses-api',
        provider: 'ses',
        mode: 'api' as const,
        outcome: 'failed' as const,
        latencyMs: 5,
        error: { message: 'down' },
      },
      {
        name: 'oci-smtp',
        provider: 'oci',
        mode: 'smtp' as const,
        outcome: 'failed' as const,
        latencyMs: 7,
        error: { message: 'auth' },
      },
    ];
    const error = new AllProvidersFailedError(attempts, [
      new ProviderUnavailableError('down'),
      new AuthenticationError('auth'),
    ]);
    expect(error.retryable).toBe(true);
    expect(error.toJSON()).toMatchObject({ code: 'ALL_PROVIDERS_FAILED', attempts });
    expect(error.message).toBe('All providers failed: ses-api: down; oci-smtp: auth');
    const permanent = new AllProvidersFailedError(attempts.slice(0, 1), [new ContentRejectedError('no')]);
    expect(permanent.retryable).toBe(false);
  });

  it('carries provider, mode, provider code and cause', () => {
    const cause = new Error('454 Throttling failure');
    const error = new ThrottledError('throttled', { provider: 'ses', mode: 'smtp', providerCode: 454, cause });
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toMatchObject({
      provider: 'ses',
      mode: 'smtp',
      providerCode: 454,
      cause: 'Error: 454 Throttling failure',
    });
  });
});

describe('InvalidMessageError with very many issues', () => {
  it('keeps the first MAX_ISSUES and counts the rest, so its text, HTTP body and dead letter stay small', async () => {
    const { InvalidMessageError, MAX_ISSUES } = await import('../../core/errors.ts');
    const issues = Array.from({ length: 250 }, (_, i) => ({ path: `tags[${i}].name`, message: 'is not allowed' }));
    const error = new InvalidMessageError(issues);
    expect(error.issues).toHaveLength(MAX_ISSUES);
    expect(error.message).toMatch(/tags\[99\]\.name: is not allowed; and 150 more$/);
    expect(error.toJSON()).toMatchObject({ moreIssues: 150 });
    expect(JSON.stringify(error.toJSON()).length).toBeLessThan(20_000);
    expect(new InvalidMessageError(issues.slice(0, 2)).toJSON()).not.toHaveProperty('moreIssues');
  });
});
