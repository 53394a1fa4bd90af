import { X509Certificate } from 'node:crypto';
import type https from 'node:https';
import Validator from 'sns-payload-validator';
import { EventRejectedError, TransientError } from '../errors.ts';

/**
 * Amazon SNS envelopes, as POSTed to an HTTP(S) endpoint or handed to a Lambda (the record's `Sns` object, whose
 * URL fields are spelled `SigningCertUrl`, `SubscribeUrl`, `UnsubscribeUrl`, and whose missing Subject is null).
 * Nothing in a message is trusted before `verifySnsEnvelope` has checked its topic and its signature.
 */
export interface SnsEnvelope {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  Subject?: string | null;
  Token?: string;
  SigningCertURL?: string;
  SigningCertUrl?: string;
  SubscribeURL?: string;
  SubscribeUrl?: string;
  UnsubscribeURL?: string;
  UnsubscribeUrl?: string;
  MessageAttributes?: Record<string, unknown>;
}

export interface SnsOptions {
  /** The topics taken in (`events.sns.topicArns`); every other topic is refused, however well signed. */
  topicArns: readonly string[];
  /**
   * The agent the signing certificate is fetched with (https.globalAgent when absent). The URL is checked first:
   * only `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem` is ever fetched.
   */
  requestAgent?: https.Agent;
  /** How long the certificate fetch may take before the message is answered as a passing fault (default 10 s). */
  certTimeoutMs?: number;
}

const TYPES = new Set(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);
/** The library's own pattern (sns-payload-validator lib/index.js), checked here too for a message that says why. */
const CERT_URL =
  /^https:\/\/sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?\/SimpleNotificationService-[a-zA-Z0-9]{32}\.pem$/;
const SNS_HOST = /^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$/;
const DEFAULT_CERT_TIMEOUT_MS = 10_000;

/** One validator, so one certificate cache, per agent: certificates are fetched once, not per message. */
const validators = new WeakMap<https.Agent, Validator>();
let defaultValidator: Validator | undefined;

function validatorFor(agent: https.Agent | undefined): Validator {
  if (!agent) {
    defaultValidator ??= new Validator();
    return defaultValidator;
  }
  let validator = validators.get(agent);
  if (!validator) {
    validator = new Validator({ requestAgent: agent });
    validators.set(agent, validator);
  }
  return validator;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An unverified value, as put in a message: cut short, since it comes from whoever sent the request. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? null);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function refuse(message: string, status: 400 | 403): EventRejectedError {
  return new EventRejectedError('ses', message, status);
}

/** The envelope's shape: every field its type signs, as strings. Throws 400 naming what is missing or wrong. */
function checkShape(envelope: unknown): asserts envelope is SnsEnvelope {
  if (!isObject(envelope)) throw refuse('the SNS message is not a JSON object', 400);
  const type = envelope.Type;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw refuse(`unknown SNS message Type: ${shown(JSON.stringify(type ?? null))}`, 400);
  }
  const required = ['MessageId', 'TopicArn', 'Message', 'Timestamp', 'SignatureVersion', 'Signature'];
  if (type !== 'Notification') required.push('Token');
  const missing = required.filter((key) => typeof envelope[key] !== 'string' || envelope[key] === '');
  if (typeof (envelope.SigningCertURL ?? envelope.SigningCertUrl) !== 'string') missing.push('SigningCertURL');
  if (type !== 'Notification' && typeof (envelope.SubscribeURL ?? envelope.SubscribeUrl) !== 'string') {
    missing.push('SubscribeURL');
  }
  if (envelope.Subject !== undefined && envelope.Subject !== null && typeof envelope.Subject !== 'string') {
    missing.push('Subject');
  }
  if (missing.length) throw refuse(`the SNS ${type} lacks or mistypes ${missing.join(', ')}`, 400);
}

/**
 * Checks an SNS envelope before anything in it is used, in this order, and returns it unchanged:
 * its shape (400), its topic against `topicArns` (403: an empty list refuses every topic), then its signature
 * (403): SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA), the certificate URL on an AWS SNS host, and the
 * signature over the canonical fields with the certificate fetched from there. A certificate that cannot be
 * fetched is a passing fault (TransientError, 503): SNS delivers the message again.
 */
export async function verifySnsEnvelope(envelope: unknown, options: SnsOptions): Promise<SnsEnvelope> {
  checkShape(envelope);
  if (!options.topicArns.length) {
    throw refuse(
      `no SNS topic is allowed, so ${shown(envelope.TopicArn)} is refused: set events.sns.topicArns (or MAILROUTE_SNS_TOPIC_ARNS)`,
      403,
    );
  }
  if (!options.topicArns.includes(envelope.TopicArn)) {
    throw refuse(`topic ${shown(envelope.TopicArn)} is not in events.sns.topicArns`, 403);
  }
  if (envelope.SignatureVersion !== '1' && envelope.SignatureVersion !== '2') {
    throw refuse(`unsupported SignatureVersion ${shown(JSON.stringify(envelope.SignatureVersion))} (1 or 2)`, 403);
  }
  const certUrl = (envelope.SigningCertURL ?? envelope.SigningCertUrl) as string;
  if (!CERT_URL.test(certUrl)) throw refuse(`signing certificate URL is not an AWS SNS host: ${shown(certUrl)}`, 403);

  const validator = validatorFor(options.requestAgent);
  const timeoutMs = options.certTimeoutMs ?? DEFAULT_CERT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    // The library re-checks the Type, the version and the URL, then builds the string to sign from the fields.
    await Promise.race([validator.validate(envelope as unknown as Validator.SnsPayload), timeout]);
    return envelope;
  } catch (error) {
    throw explain(error, certUrl, validator);
  } finally {
    clearTimeout(timer);
  }
}

/** The library's errors, as refusals (a bad signature) or passing faults (the certificate fetch failed). */
function explain(error: unknown, certUrl: string, validator: Validator): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (message === 'Invalid Signature') {
    // The library caches whatever body the URL answered, an error page too: a body that is no certificate is
    // dropped, so the next delivery fetches it again, and this one is answered as a fault SNS retries.
    const cache = (validator as unknown as { certCache?: { get(key: string): unknown; delete(key: string): unknown } })
      .certCache;
    const cached = cache?.get(certUrl);
    if (cached !== undefined && !isCertificate(cached)) {
      cache?.delete(certUrl);
      return new TransientError(`the SNS signing certificate at ${certUrl} did not come back as a certificate`, {
        provider: 'ses',
      });
    }
    return refuse('signature does not verify', 403);
  }
  if (message === 'Invalid SigningCertURL')
    return refuse(`signing certificate URL is not an AWS SNS host: ${certUrl}`, 403);
  if (message === 'Invalid SignatureVersion') return refuse('unsupported SignatureVersion (1 or 2)', 403);
  if (message === 'Invalid Type') return refuse('unknown SNS message Type', 400);
  return new TransientError(`could not fetch the SNS signing certificate ${certUrl}: ${message}`, {
    provider: 'ses',
    cause: error,
  });
}

function isCertificate(pem: unknown): boolean {
  if (typeof pem !== 'string') return false;
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

export interface ConfirmOptions {
  /** The fetch the SubscribeURL is visited with (the global fetch when absent). */
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface Confirmation {
  /** True when the SubscribeURL was visited: the subscription is confirmed. */
  confirmed: boolean;
  topicArn: string;
}

/**
 * Answers a verified `SubscriptionConfirmation` by visiting its SubscribeURL (once), which confirms the
 * subscription; only an https URL on `sns.<region>.amazonaws.com[.cn]` is visited (else 403). An
 * `UnsubscribeConfirmation` is acknowledged and nothing is visited: visiting it would subscribe again.
 */
export async function confirmSubscription(envelope: SnsEnvelope, options: ConfirmOptions = {}): Promise<Confirmation> {
  if (envelope.Type === 'UnsubscribeConfirmation') return { confirmed: false, topicArn: envelope.TopicArn };
  if (envelope.Type !== 'SubscriptionConfirmation') {
    throw refuse(`a ${envelope.Type} is not a subscription confirmation`, 400);
  }
  const subscribeUrl = envelope.SubscribeURL ?? envelope.SubscribeUrl ?? '';
  if (!isSnsUrl(subscribeUrl)) throw refuse(`SubscribeURL is not on an AWS SNS host: ${shown(subscribeUrl)}`, 403);
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(subscribeUrl, {
      method: 'GET',
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_CERT_TIMEOUT_MS),
    });
  } catch (error) {
    throw new TransientError(`could not visit the SubscribeURL of ${envelope.TopicArn}`, {
      provider: 'ses',
      cause: error,
    });
  }
  // The body (a ConfirmSubscriptionResponse) is read so the connection is released.
  await response.text().catch(() => '');
  if (!response.ok) {
    throw new TransientError(`SNS answered ${response.status} to the SubscribeURL of ${envelope.TopicArn}`, {
      provider: 'ses',
      providerCode: response.status,
    });
  }
  return { confirmed: true, topicArn: envelope.TopicArn };
}

function isSnsUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'https:' && url.port === '' && !url.username && !url.password && SNS_HOST.test(url.hostname);
}

/** The parsed `Message` of a verified Notification: for SES, the event record (400 when it is not JSON). */
export function snsMessage(envelope: SnsEnvelope): unknown {
  if (envelope.Type !== 'Notification') throw refuse(`a ${envelope.Type} carries no notification message`, 400);
  try {
    return JSON.parse(envelope.Message);
  } catch {
    throw refuse('the SNS Message is not JSON', 400);
  }
}
