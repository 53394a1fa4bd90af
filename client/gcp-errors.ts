import {
  AuthenticationError,
  ConfigurationError,
  type MailrouteError,
  MessageTooLargeError,
  ProviderUnavailableError,
  ThrottledError,
} from '../core/errors.ts';
import { parseRetryAfter } from '../core/util/network.ts';

/** What a Pub/Sub call was about, for the error's message and the setting to fix. */
export interface PubSubTarget {
  /** `projects/{project}/topics/{topic}`: never a credential. */
  topic: string;
  /** The option or variable that names the topic (`topic`, `MAILROUTE_FAILED_TOPIC`). */
  setting: string;
  /** The message's size as the producer counted it, to report when the service says it is too large. */
  bytes?: number;
}

/** An HTTP answer that was not 2xx, with Google's JSON error body when there was one. */
export interface PubSubFailure {
  status: number;
  body: string;
  retryAfter?: string | null;
}

const origin = (cause?: unknown, providerCode?: string | number) => ({
  provider: 'pubsub',
  ...(providerCode === undefined ? {} : { providerCode }),
  ...(cause === undefined ? {} : { cause }),
});

/**
 * Translates a failed `topics.publish` answer into the project's taxonomy; the message names the topic.
 *
 * | answer | class |
 * | --- | --- |
 * | 429 (RESOURCE_EXHAUSTED) | ThrottledError, with Retry-After |
 * | 401, 403 | AuthenticationError |
 * | 404 | ConfigurationError naming the topic and its setting |
 * | 400 "Request payload size exceeds the limit: N bytes." | MessageTooLargeError with the service's limit |
 * | other 4xx | ConfigurationError |
 * | 5xx | ProviderUnavailableError (retryable) |
 */
export function translatePubSubFailure(failure: PubSubFailure, target: PubSubTarget): MailrouteError {
  const error = googleError(failure.body);
  const code = error.status ?? failure.status;
  const reason = error.message ?? (failure.body.slice(0, 200) || `HTTP ${failure.status}`);
  const what = `Pub/Sub publish to ${target.topic}`;
  const options = origin(undefined, code);
  if (failure.status === 429) {
    const retryAfterMs = parseRetryAfter(failure.retryAfter);
    return new ThrottledError(`${what} was throttled (${code}): ${reason}`, {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (failure.status === 401 || failure.status === 403) {
    return new AuthenticationError(`${what} was refused (${code}): ${reason}`, options);
  }
  if (failure.status === 404) {
    return new ConfigurationError(`${what} failed: the topic does not exist (${code}): ${reason}`, {
      ...options,
      issues: [{ path: target.setting, message: `${target.topic} does not exist (or is in another project)` }],
    });
  }
  const limit = /exceeds the limit: (\d+) bytes/.exec(reason)?.[1];
  if (failure.status === 400 && limit && target.bytes !== undefined) {
    const field = `the message for Pub/Sub topic ${target.topic}`;
    return new MessageTooLargeError(field, target.bytes, Number(limit), 'bytes', options);
  }
  if (failure.status >= 400 && failure.status < 500) {
    return new ConfigurationError(`${what} was refused (${code}): ${reason}`, {
      ...options,
      issues: [{ path: target.setting, message: `Pub/Sub refused the request: ${reason}` }],
    });
  }
  return new ProviderUnavailableError(`${what} failed (${code}): ${reason}`, options);
}

/** No answer: the connection failed or the call outlived its timeout. Retryable; the message was not taken. */
export function translatePubSubNetworkError(error: unknown, target: PubSubTarget, timeoutMs: number): MailrouteError {
  const e = error as Error & { cause?: { code?: string } };
  const why =
    e?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e?.cause?.code ?? e?.name}: ${e?.message}`;
  return new ProviderUnavailableError(`Pub/Sub publish to ${target.topic} failed: ${why}`, origin(error));
}

/** The access token could not be had: no credentials at all is a setup problem; a refused grant is auth. */
export function translateTokenError(error: unknown, target: PubSubTarget): MailrouteError {
  const message = (error as Error)?.message ?? String(error);
  if (/could not load the default credentials/i.test(message)) {
    return new ConfigurationError(
      `no Google credentials for Pub/Sub topic ${target.topic}: run on Google Cloud, set GOOGLE_APPLICATION_CREDENTIALS, or pass auth`,
      { ...origin(error), issues: [{ path: 'auth', message: 'no application default credentials found' }] },
    );
  }
  return new AuthenticationError(`no access token for Pub/Sub topic ${target.topic}: ${message}`, origin(error));
}

function googleError(body: string): { status?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as { error?: { status?: unknown; message?: unknown } };
    const status = typeof parsed.error?.status === 'string' ? parsed.error.status : undefined;
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
    return { ...(status ? { status } : {}), ...(message ? { message } : {}) };
  } catch {
    return {};
  }
}
