/**
 * mailroute/testing: a real mailer whose provider entries record instead of sending, for an application's own
 * tests (vitest, jest, node:test, mocha: nothing here imports a test runner).
 *
 * @example
 * import { createTestMailer } from 'mailroute/testing';
 * const { mailer, outbox } = createTestMailer();
 * await mailer.send({ from: 'app@example.com', to: 'bob@example.org', subject: 'Welcome', text: 'Hi' });
 * outbox.assertSent({ to: 'bob@example.org', subject: /welcome/i });
 */

import type { MailrouteConfig } from '../core/config/config.ts';
import type { Mode } from '../core/contract/adapter.ts';
import type { ProviderRegistry } from '../core/contract/provider-registry.ts';
import { Mailer, type MailerOptions } from '../core/mailer.ts';
import { builtInProviders } from '../providers/index.ts';
import { TestOutbox } from './outbox.ts';
import { recordingProviders, TEST_PROVIDER } from './provider.ts';

export {
  FAULT_CODES,
  type Fault,
  type FaultClass,
  type FaultCode,
  type FaultContext,
  type FaultOptions,
} from './faults.ts';
export {
  type AttachmentMatch,
  type MessageMatch,
  OutboxAssertionError,
  type SentAssertion,
  type SentAttachment,
  type SentMessage,
  type TestAttempt,
  TestEntry,
  TestOutbox,
} from './outbox.ts';
export {
  RecordingAdapter,
  recordingDescriptor,
  recordingProviders,
  TEST_PROVIDER,
  type TestEntryConfig,
  testFields,
  testProvider,
} from './provider.ts';

/** A provider entry as a test configuration may give it: without `provider`, a test entry (`mode` default `api`). */
export type TestEntryInput = { name?: string; provider?: string; mode?: Mode } & Record<string, unknown>;

/**
 * A configuration for a test mailer: the application's own (its entries then record instead of sending, its
 * routes, retries and health settings work as given), or a short one (`{ providers: [{ name: 'primary' },
 * { name: 'secondary' }], routes: [...] }`). Without `providers`: one test entry named `test`.
 */
export type TestMailerConfig = Omit<Partial<MailrouteConfig>, 'providers'> & { providers?: TestEntryInput[] };

export interface TestMailerOptions extends Omit<MailerOptions, 'providers' | 'ownsStore'> {
  /** The providers the configuration may name (default: the built-in ones); each is made recording. */
  providers?: ProviderRegistry;
}

export interface TestMailer {
  /** A real Mailer: validation, composition, routing, retries, failover, health and idempotency as in production. */
  mailer: Mailer;
  /** What its entries took, faults to inject, and assertions. */
  outbox: TestOutbox;
  /** The recording registry the mailer was built with, for a mailer the application builds itself. */
  providers: ProviderRegistry;
}

/**
 * A mailer whose every provider entry records into an outbox instead of sending. State (health, rate limits,
 * idempotency, suppression) lives in this mailer's memory, whatever store the configuration names: a new test
 * mailer starts clean.
 */
export function createTestMailer(config: TestMailerConfig = {}, options: TestMailerOptions = {}): TestMailer {
  const { providers: base = builtInProviders, ...mailerOptions } = options;
  const entries = (config.providers ?? [{ name: TEST_PROVIDER }]).map((entry) =>
    entry.provider === undefined || entry.provider === TEST_PROVIDER
      ? { ...entry, provider: TEST_PROVIDER, mode: entry.mode ?? 'api' }
      : entry,
  );
  // The store is never the configuration's (a DynamoDB table, a Redis URL): the mailer keeps its state in memory.
  const { store: _store, ...rest } = config;
  const outbox = new TestOutbox({ entries: entries.map((e) => e.name ?? `${e.provider}-${e.mode}`) });
  const providers = recordingProviders(outbox, base);
  const mailer = new Mailer({ ...rest, providers: entries } as MailrouteConfig, providers.createAdapter, {
    ...mailerOptions,
    providers,
  });
  return { mailer, outbox, providers };
}
