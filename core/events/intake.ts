import { createHash, timingSafeEqual } from 'node:crypto';
import type { Agent } from 'node:https';
import { resolveSecret } from '../config/schema.ts';
import { EventRejectedError } from '../errors.ts';
import type { Mailer } from '../mailer.ts';
import { EVENT_SOURCES, type EventSource, type MailEvent } from './event.ts';
import type { AppliedEvent } from './mail-events.ts';
import { eventGridEvents } from './sources/acs.ts';
import { ociLogEvents } from './sources/oci.ts';
import { sesEventBridgeEvents, sesEvents } from './sources/ses.ts';

// What only some requests need is loaded when one does: the DSN parser (mailparser), SNS signature verification,
// Event Grid's Entra token check (jose), YAML. A function that only sends never loads them.

/** A delivery event (or a batch) as a transport hands it over. */
export interface EventRequest {
  /** The body as received: JSON text for the feeds, the `.eml` text of a DSN. */
  body: string | Buffer;
  /** Lower-case names. */
  headers?: Record<string, string | undefined>;
  query?: Record<string, string | undefined>;
  /**
   * The platform already authenticated the sender: a Lambda invoked by EventBridge, Connector Hub's IAM policy, an
   * Azure Event Grid trigger, a file given to the CLI. Unauthenticated requests need `events.webhookSecret`, and an
   * SES event only comes in inside a verified SNS envelope. SNS envelopes are verified either way.
   */
  authenticated?: boolean;
}

export interface IntakeOptions {
  /** For tests only: the agent that fetches SNS signing certificates (the shipped one reaches AWS). */
  snsAgent?: Agent;
  /** Confirms SNS subscriptions (GET of `SubscribeURL`); default the global `fetch`. */
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

export interface IntakeAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Each event, normalized and enriched, with what it changed. */
  applied: AppliedEvent[];
}

export function isEventSource(value: string): value is EventSource {
  return (EVENT_SOURCES as readonly string[]).includes(value);
}

/**
 * Takes in what one source sent (a raw body), normalizes it and applies every event: correlation, suppression
 * list, counts. Throws `EventRejectedError` (with its HTTP status) before applying anything when the sender is not
 * who it must be or the body is none of the source's shapes.
 */
export async function ingestEvents(
  mailer: Mailer,
  source: EventSource,
  request: EventRequest,
  options: IntakeOptions = {},
): Promise<IntakeAnswer> {
  if (source === 'dsn') {
    await authenticate(mailer, source, request, options);
    const { dsnEvents } = await import('./sources/dsn.ts');
    return applied(mailer, await dsnEvents(request.body));
  }
  return ingestPayload(mailer, source, await parseBody(source, request), request, options);
}

/** Like `ingestEvents`, for a payload a platform already decoded (a Lambda SNS record, an EventBridge event). */
export async function ingestPayload(
  mailer: Mailer,
  source: Exclude<EventSource, 'dsn'>,
  payload: unknown,
  request: Omit<EventRequest, 'body'> = {},
  options: IntakeOptions = {},
): Promise<IntakeAnswer> {
  if (source === 'ses') return ingestSes(mailer, payload, request, options);
  await authenticate(mailer, source, request, options);
  if (source === 'oci') return applied(mailer, ociLogEvents(payload));
  const { validationCode, events } = eventGridEvents(payload);
  if (validationCode !== undefined) {
    // The Event Grid handshake: answering the code proves this endpoint wants the subscription's events.
    return { status: 200, body: { validationResponse: validationCode }, applied: await mailer.events.apply(events) };
  }
  return applied(mailer, events);
}

async function ingestSes(
  mailer: Mailer,
  payload: unknown,
  request: Omit<EventRequest, 'body'>,
  options: IntakeOptions,
): Promise<IntakeAnswer> {
  if (Array.isArray(payload)) {
    if (!request.authenticated)
      throw new EventRejectedError('ses', 'a batch of records is only taken from a trusted source', 401);
    const events = payload.flatMap((item) => sesRecordEvents(item, true));
    return applied(mailer, events);
  }
  const type = (payload as { Type?: unknown } | null)?.Type;
  if (type === 'Notification' || type === 'SubscriptionConfirmation' || type === 'UnsubscribeConfirmation') {
    const { confirmSubscription, snsMessage, verifySnsEnvelope } = await import('./sns.ts');
    const envelope = await verifySnsEnvelope(payload, {
      topicArns: topicArns(mailer, options.env),
      ...(options.snsAgent ? { requestAgent: options.snsAgent } : {}),
    });
    if (type === 'Notification') return applied(mailer, sesRecordEvents(snsMessage(envelope), true));
    const confirmed = await confirmSubscription(envelope, options.fetch ? { fetch: options.fetch } : {});
    return { status: 200, body: { ok: true, ...confirmed }, applied: [] };
  }
  return applied(mailer, sesRecordEvents(payload, request.authenticated === true));
}

/** An SES record or EventBridge event; only from a trusted source or a verified SNS envelope. */
function sesRecordEvents(payload: unknown, trusted: boolean): MailEvent[] {
  if (!trusted) {
    throw new EventRejectedError(
      'ses',
      'SES events are taken over HTTP only inside a signed SNS message (subscribe the endpoint to the SNS topic)',
      401,
    );
  }
  const record = payload as { source?: unknown; detail?: unknown } | null;
  if (record && typeof record === 'object' && record.source === 'aws.ses' && 'detail' in record) {
    return sesEventBridgeEvents(payload);
  }
  return sesEvents(payload);
}

/** The allowlisted SNS topics: `events.sns.topicArns` and `MAILROUTE_SNS_TOPIC_ARNS` (comma-separated). */
function topicArns(mailer: Mailer, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.MAILROUTE_SNS_TOPIC_ARNS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [...(mailer.config.events?.sns?.topicArns ?? []), ...fromEnv];
}

/**
 * An unauthenticated request must present `events.webhookSecret`, as `?secret=` (Event Grid webhooks can only carry
 * it in the URL) or `Authorization: Bearer`; compared in constant time. For `acs` with `events.eventGridEntra`, a
 * bearer token that is a JWT is verified as Event Grid's Microsoft Entra token instead (core/events/entra.ts): a
 * bad one is refused whatever else the request carries.
 */
async function authenticate(
  mailer: Mailer,
  source: EventSource,
  request: Omit<EventRequest, 'body'>,
  options: IntakeOptions,
): Promise<void> {
  if (request.authenticated) return;
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers?.authorization ?? '')?.[1];
  const entra = source === 'acs' ? mailer.config.events?.eventGridEntra : undefined;
  if (entra && bearer !== undefined) {
    const { looksLikeJwt, verifyEventGridToken } = await import('./entra.ts');
    if (looksLikeJwt(bearer)) {
      await verifyEventGridToken(bearer, entra);
      return;
    }
  }
  const ref = mailer.config.events?.webhookSecret;
  if (!ref) {
    if (entra) {
      throw new EventRejectedError(
        source,
        'no Microsoft Entra bearer token (events.eventGridEntra): set "Use Microsoft Entra authentication" on the Event Grid subscription, or set events.webhookSecret',
        401,
      );
    }
    throw new EventRejectedError(
      source,
      source === 'acs'
        ? "set events.webhookSecret (a secret in the URL) or events.eventGridEntra (Event Grid's Microsoft Entra token) to take acs events over HTTP (the endpoint must not accept them from anyone)"
        : `set events.webhookSecret to take ${source} events over HTTP (the endpoint must not accept them from anyone)`,
      401,
    );
  }
  const expected = resolveSecret(ref, 'events.webhookSecret', options.env);
  const given = request.query?.secret ?? bearer;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  if (given === undefined || !timingSafeEqual(digest(given), digest(expected))) {
    throw new EventRejectedError(source, 'the webhook secret is missing or wrong', 401);
  }
}

async function parseBody(source: EventSource, request: EventRequest): Promise<unknown> {
  const text = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : request.body;
  try {
    return JSON.parse(text);
  } catch (error) {
    if (request.authenticated) {
      // A file given by hand may be JSON as documentation prints it (a trailing comma): YAML reads that.
      try {
        const { parse: parseYaml } = await import('yaml');
        return parseYaml(text);
      } catch {
        // reported below
      }
    }
    throw new EventRejectedError(source, `the body is not JSON: ${(error as Error).message}`, 400);
  }
}

async function applied(mailer: Mailer, events: MailEvent[]): Promise<IntakeAnswer> {
  const result = await mailer.events.apply(events);
  const suppressed = result.filter((a) => a.suppression === 'suppressed').length;
  return { status: 200, body: { ok: true, events: result.length, suppressed }, applied: result };
}
