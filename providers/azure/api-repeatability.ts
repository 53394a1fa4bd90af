import type { EmailClient, EmailClientOptions } from '@azure/communication-email';
import { type ConnectWatch, WATCH_OPTION } from '../http/connect-watch.ts';

/**
 * ACS repeatable requests (https://learn.microsoft.com/en-us/rest/api/communication/repeatable-requests): a POST
 * carrying `Repeatability-Request-Id` and `Repeatability-First-Sent` (the first attempt's time, IMF-fixdate) is
 * executed once; a repeat inside the tracked window (5 minutes) gets the original's answer, 409 while that is
 * still in progress; a first-sent older than the window gets 412. EmailClient 1.x does not send the headers
 * itself, so a pipeline policy adds them.
 */
export interface RepeatabilityOptions {
  /** How long ACS tracks a request from its first-sent time (documented: 5 minutes). */
  windowMs?: number;
  /** Kept back from the window, for the request's travel and clock differences: past it, ask the operation. */
  safetyMarginMs?: number;
}

export const DEFAULT_REPEATABILITY: Required<RepeatabilityOptions> = { windowMs: 5 * 60_000, safetyMarginMs: 30_000 };

export interface RepeatabilityHeaders {
  requestId: string;
  /** Epoch ms; sent as IMF-fixdate (whole seconds). */
  firstSentAt: number;
}

type Policy = NonNullable<EmailClientOptions['additionalPolicies']>[number]['policy'];
type Pipeline = {
  addPolicy(policy: Policy): void;
  getOrderedPolicies(): { name: string }[];
};

const POLICY_NAME = 'mailroute-acs-repeatability';

/** What one SDK call's requests carry: the repeatability headers of its POST, and the watch of its connections. */
export interface AcsCall {
  repeatability?: RepeatabilityHeaders;
  watch?: ConnectWatch;
}

/**
 * The header that names a call to the policy, set through the operation's `requestOptions.customHeaders` (which
 * every request of the call gets, its polls included) and taken off by the policy before the request leaves.
 * No AsyncLocalStorage: once one has run, Node keeps promise hooks on for the whole process, which cost every
 * send of every provider CPU (bench/send-profile.ts).
 */
const CALL_HEADER = 'x-mailroute-call';
const calls = new Map<string, AcsCall>();
let lastCall = 0;

/**
 * Runs an SDK call with the `requestOptions` it must pass on: its `POST /emails:send` then carries the
 * repeatability headers, and the connections its requests open report to the watch. The call's requests made
 * after it settled (a poller's later polls) carry neither.
 */
export async function withAcsCall<T>(
  state: AcsCall,
  call: (requestOptions: { customHeaders: Record<string, string> }) => Promise<T>,
): Promise<T> {
  const id = String(++lastCall);
  calls.set(id, state);
  try {
    return await call({ customHeaders: { [CALL_HEADER]: id } });
  } finally {
    calls.delete(id);
  }
}

/**
 * Adds the headers of the call to its `POST /emails:send` only: the operation GET is not a repeatable request, and
 * the Azure guidelines have a service answer 501 to repeatability headers it does not support. The call's watch
 * goes in the request's `requestOverrides`, which reach `http.request` and so the agent's `createConnection`.
 */
export const repeatabilityPolicy: Policy = {
  name: POLICY_NAME,
  sendRequest: (request, next) => {
    const id = request.headers.get(CALL_HEADER);
    if (id !== undefined) {
      request.headers.delete(CALL_HEADER);
      const call = calls.get(id);
      const headers = call?.repeatability;
      if (headers && request.method === 'POST' && new URL(request.url).pathname.endsWith('/emails:send')) {
        request.headers.set('Repeatability-Request-Id', headers.requestId);
        request.headers.set('Repeatability-First-Sent', new Date(headers.firstSentAt).toUTCString());
      }
      if (call?.watch) request.requestOverrides = { ...request.requestOverrides, [WATCH_OPTION]: call.watch };
    }
    return next(request);
  },
};

/** Adds the policy to a client built elsewhere, once (the pipeline refuses two policies of one name). */
export function addRepeatabilityPolicy(client: EmailClient): void {
  const pipeline = (client as unknown as { generatedClient?: { pipeline?: Pipeline } }).generatedClient?.pipeline;
  if (!pipeline || pipeline.getOrderedPolicies().some((p) => p.name === POLICY_NAME)) return;
  pipeline.addPolicy(repeatabilityPolicy);
}

/**
 * The first-sent time of each repeatable request this adapter sent, while ACS still tracks it: a retry in this
 * process (the router's, after a dropped connection) must repeat the first attempt's time, or it is not the
 * same request. A time the caller gives (kept in the idempotency claim) always wins.
 */
export class FirstSentMemory {
  private readonly sent = new Map<string, number>();
  private readonly usableMs: number;
  private readonly maxEntries: number;

  constructor(options: Required<RepeatabilityOptions>, maxEntries = 10_000) {
    this.usableMs = options.windowMs - options.safetyMarginMs;
    this.maxEntries = maxEntries;
  }

  firstSentAt(requestId: string, given: number | undefined, now: number = Date.now()): number {
    const known = this.sent.get(requestId);
    const firstSentAt = given ?? (known !== undefined && now - known < this.usableMs ? known : now);
    this.sent.delete(requestId);
    this.sent.set(requestId, firstSentAt);
    // Insertion order is roughly age order: forget from the oldest end.
    for (const [id, at] of this.sent) {
      if (now - at < this.usableMs && this.sent.size <= this.maxEntries) break;
      this.sent.delete(id);
    }
    return firstSentAt;
  }
}
