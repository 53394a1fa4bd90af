import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type AcsAnswer, acsError } from './errors.ts';

/**
 * Repeatable requests on `POST /emails:send`, as Azure Communication Services documents them:
 * https://learn.microsoft.com/en-us/rest/api/communication/repeatable-requests ("Repeatability of requests",
 * applies to the Email Send API). The client sends `Repeatability-Request-Id` (a GUID) and
 * `Repeatability-First-Sent` (the time the request was first sent, UTC, IMF-fixdate); the service tracks
 * requests for 5 minutes, and answers:
 *
 * | Request-Id | First-Sent | Repeatability-Result | status |
 * | --- | --- | --- | --- |
 * | valid GUID | invalid format | rejected | 400 |
 * | invalid format | valid date | rejected | 400 |
 * | invalid format | invalid format | rejected | 400 |
 * | valid | outside the tracked duration | rejected | 412 |
 * | valid, new | within | accepted | the status of normal execution |
 * | valid, a repeat | within, not matching the earlier request | rejected | 400 |
 * | valid, a repeat | within, matching | accepted | 409 while the original is in progress; the original's status when it was 2xx or 4xx; when it was 5xx, the status of executing it again |
 *
 * The page follows OASIS Repeatable Requests Version 1.0
 * (https://docs.oasis-open.org/odata/repeatable-requests/v1.0/repeatable-requests-v1.0.html), whose
 * `Repeatability-Result` response header (`accepted` or `rejected`) the service returns; the Azure REST API
 * guidelines (https://github.com/microsoft/api-guidelines/blob/vNext/azure/Guidelines.md#repeatability-of-requests)
 * make the tracked window at least 5 minutes.
 *
 * Not documented, chosen here (unverified against the live service):
 * - only one of the two headers is answered like an invalid one (400): the page calls both mandatory;
 * - a repeat "matches" when its body is byte-identical and its First-Sent is the same value (OASIS: it is the
 *   time the request was *first* sent, so every repeat carries the original's);
 * - a First-Sent in the future is accepted (the docs name only the past as outside), tracked until it is
 *   the window old;
 * - the error codes and messages of the 400, 409 and 412 bodies (the 412 message follows the page's
 *   troubleshooting note);
 * - a GUID is the 8-4-4-4-12 hexadecimal form;
 * - injected status faults (throttling, outages) answer in front of this: they are never remembered.
 */
export const DEFAULT_REPEATABILITY_WINDOW_MS = 5 * 60_000;

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Tracked {
  firstSent: number;
  firstSentHeader: string;
  bodyHash: string;
  /** The original's answer; absent while it is still being processed. */
  answer?: AcsAnswer;
}

/** What to do with a send request, given its repeatability headers. */
export type RepeatabilityDecision =
  | { kind: 'not-repeatable' }
  | { kind: 'answer'; answer: AcsAnswer }
  | { kind: 'execute'; finish(answer: AcsAnswer): AcsAnswer };

export class RepeatabilityTracker {
  private readonly tracked = new Map<string, Tracked>();
  private readonly windowMs: number;

  constructor(windowMs: number = DEFAULT_REPEATABILITY_WINDOW_MS) {
    this.windowMs = windowMs;
  }

  /** Decides on a request before it runs; `execute` marks it in progress until `finish` records its answer. */
  begin(headers: IncomingHttpHeaders, body: Buffer, now: number = Date.now()): RepeatabilityDecision {
    const id = single(headers['repeatability-request-id']);
    const firstSentHeader = single(headers['repeatability-first-sent']);
    if (id === undefined && firstSentHeader === undefined) return { kind: 'not-repeatable' };
    const firstSent = firstSentHeader === undefined ? Number.NaN : imfFixdate(firstSentHeader);
    if (id === undefined || !guid.test(id)) return rejected(400, 'Repeatability-Request-Id', 'must be a GUID.');
    if (Number.isNaN(firstSent)) {
      return rejected(400, 'Repeatability-First-Sent', 'must be a date in IMF-fixdate format (RFC 7231).');
    }
    if (now - firstSent > this.windowMs) {
      const minutes = Math.round(this.windowMs / 60_000);
      return rejected(412, 'Repeatability-First-Sent', `header is not within the ${minutes} minute window.`);
    }
    const key = id.toLowerCase();
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const earlier = this.tracked.get(key);
    if (earlier && now - earlier.firstSent <= this.windowMs) {
      if (earlier.bodyHash !== bodyHash || earlier.firstSentHeader !== firstSentHeader) {
        return rejected(400, 'Repeatability-Request-Id', 'was used for a different request.');
      }
      if (!earlier.answer) {
        const message = 'The original request with this Repeatability-Request-Id is still being processed.';
        return { kind: 'answer', answer: acsError(409, { code: 'Conflict', message }, accepted) };
      }
      return { kind: 'answer', answer: withResult(earlier.answer, 'accepted') };
    }
    const entry: Tracked = { firstSent, firstSentHeader: firstSentHeader!, bodyHash };
    this.tracked.set(key, entry);
    return {
      kind: 'execute',
      finish: (answer) => {
        // A 5xx is not the request's answer but the service's failure: a repeat executes it again.
        if (answer.status >= 500) this.tracked.delete(key);
        else entry.answer = answer;
        return withResult(answer, 'accepted');
      },
    };
  }

  clear(): void {
    this.tracked.clear();
  }
}

const accepted = { headers: { 'repeatability-result': 'accepted' } };

function rejected(status: 400 | 412, header: string, problem: string): RepeatabilityDecision {
  const code = status === 412 ? 'PreconditionFailed' : 'BadRequest';
  const answer = acsError(
    status,
    { code, message: `${header} ${problem}`, target: header },
    { headers: { 'repeatability-result': 'rejected' } },
  );
  return { kind: 'answer', answer };
}

function withResult(answer: AcsAnswer, result: 'accepted' | 'rejected'): AcsAnswer {
  return { ...answer, headers: { ...answer.headers, 'repeatability-result': result } };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Epoch ms of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), NaN for anything else (RFC 850, asctime, ISO). */
function imfFixdate(text: string): number {
  const time = Date.parse(text);
  // Date.parse is lenient; the round trip admits exactly the IMF-fixdate form, with the right weekday.
  return !Number.isNaN(time) && new Date(time).toUTCString() === text ? time : Number.NaN;
}
