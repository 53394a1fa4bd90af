import { randomUUID } from 'node:crypto';
import type { AdapterSendResult, Mode } from '../core/contract/adapter.ts';
import { isMailrouteError } from '../core/errors.ts';
import { type MailAddress, parseAddress } from '../core/message/address.ts';
import type { PreparedMessage } from '../core/message/compose.ts';
import type { NormalizedMessage, Tag } from '../core/message/message.ts';
import { type Fault, type FaultContext, type FaultOptions, type FaultPlan, planFault } from './faults.ts';

export interface SentAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  /** Set for an inline image (`cid:`). */
  contentId?: string;
}

/** One message a test entry took: what a provider would have been given. */
export interface SentMessage {
  /** 1 for the first message the outbox recorded (since it was last cleared), 2 for the next... */
  index: number;
  /** The provider entry that took it (its configured name), and the provider and mode that entry stands for. */
  entry: string;
  provider: string;
  mode: Mode;
  /** The `Message-ID` header, with angle brackets (the result's `messageId`). */
  messageId: string;
  /** The id the entry answered with (the result's `providerMessageId`). */
  providerMessageId: string;
  from: MailAddress;
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  replyTo: MailAddress[];
  subject: string;
  text?: string;
  html?: string;
  attachments: SentAttachment[];
  headers: Record<string, string>;
  tags: Tag[];
  metadata: Record<string, string | number | boolean>;
  idempotencyKey?: string;
  /** The SMTP envelope: the sender and every recipient, Bcc included. */
  envelope: { from: string; to: string[] };
  sentAt: Date;
  /** The message as validated and normalized (every field, `providerOptions` included). */
  message: NormalizedMessage;
  /** The MIME message, byte for byte what an SMTP mode (or a raw API call) sends: composed on first call. */
  mime(): Promise<Buffer>;
}

/** One hand-over to a test entry, sent or failed by a fault. */
export interface TestAttempt {
  entry: string;
  provider: string;
  mode: Mode;
  messageId: string;
  subject: string;
  outcome: 'sent' | 'failed';
  /** The error the entry threw, for a failed one. */
  error?: unknown;
  /** Its `code` when it is one of the project's errors. */
  errorCode?: string;
}

type TextMatch = string | RegExp;

/** What an attachment must be: a string is its exact filename. */
export interface AttachmentMatch {
  filename?: TextMatch;
  contentType?: TextMatch;
  /** Exact bytes (a string is compared as UTF-8). */
  content?: string | Buffer;
}

/**
 * What a sent message must be for `find`, `assertSent` and `assertNotSent`; every given field must hold. A string
 * address matches the address exactly, ignoring case (an internationalized domain may be given in Unicode); a
 * RegExp is tested against both `address` and `Name <address>`. A list means each of them.
 */
export interface MessageMatch {
  /** In the To field. */
  to?: TextMatch | TextMatch[];
  cc?: TextMatch | TextMatch[];
  bcc?: TextMatch | TextMatch[];
  /** Among all recipients, To, Cc and Bcc: whoever the message is delivered to. */
  recipient?: TextMatch | TextMatch[];
  from?: TextMatch;
  replyTo?: TextMatch;
  /** A string is the exact subject. */
  subject?: TextMatch;
  /** A string is a part of the text body. */
  text?: TextMatch;
  /** A string is a part of the HTML body. */
  html?: TextMatch;
  /** An attachment with this filename (string: exact), or matching each given field. */
  attachment?: TextMatch | AttachmentMatch;
  /** Custom headers, by name (any case): a string is the exact value. */
  headers?: Record<string, TextMatch>;
  /** A tag with this name (and value, when given). */
  tag?: string | Tag;
  /** Metadata entries that must be present with these values. */
  metadata?: Record<string, string | number | boolean>;
  /** Taken by this provider entry. */
  entry?: string;
  idempotencyKey?: string;
  /** Anything else. */
  where?: (message: SentMessage) => boolean;
}

export interface SentAssertion extends MessageMatch {
  /** Exactly this many matching messages; default: at least one. */
  count?: number;
}

/**
 * Thrown by the outbox's assertions: a plain Error named `AssertionError` (vitest, jest, node:test and mocha all
 * report it as a failed assertion), its message saying what was expected and what was sent.
 */
export class OutboxAssertionError extends Error {
  override name = 'AssertionError';
  readonly actual: unknown;
  readonly expected: unknown;
  /** Whether a runner should show a diff of `actual` and `expected` (only for counts: the message says the rest). */
  readonly showDiff: boolean;
  /**
   * As node:assert sets it: `strictEqual` for a count (jest prints expected, received and a diff), `fail` otherwise
   * (jest prints the message alone).
   */
  readonly operator: 'strictEqual' | 'fail';
  readonly generatedMessage = false;
  constructor(
    message: string,
    facts: { actual: unknown; expected: unknown; showDiff?: boolean },
    // biome-ignore lint/complexity/noBannedTypes: the stack is cut above the assertion the caller called
    stackStart?: Function,
  ) {
    super(message);
    this.actual = facts.actual;
    this.expected = facts.expected;
    this.showDiff = facts.showDiff ?? false;
    this.operator = this.showDiff ? 'strictEqual' : 'fail';
    // The stack starts at the caller's line, as with node:assert: the outbox's own frames say nothing.
    if (stackStart) Error.captureStackTrace(this, stackStart);
  }
}

/** What the recording adapter needs to know of itself. */
export interface RecordingEntry {
  name: string;
  provider: string;
  mode: Mode;
}

interface QueuedFault {
  remaining: number;
  plan: FaultPlan;
}

interface FaultState {
  queue: QueuedFault[];
  down?: FaultPlan;
}

/** Where the recording adapters hand messages over; not part of the public API. */
export const HAND_OVER: unique symbol = Symbol('mailroute.testing.handOver');
export const VERIFY: unique symbol = Symbol('mailroute.testing.verify');

/**
 * Everything the test entries of a mailer were given: the messages they took, every attempt (sent or failed), and
 * the faults to inject. Assertions throw `OutboxAssertionError` with a readable message; none needs a test runner.
 */
export class TestOutbox {
  private readonly sent: SentMessage[] = [];
  private readonly tried: TestAttempt[] = [];
  private readonly faults = new Map<string, FaultState>();
  private readonly anyEntry: FaultState = { queue: [] };
  private readonly waiters = new Set<() => void>();
  private readonly known: readonly string[] | undefined;

  /** `entries`: the provider entries' names, so that `entry(name)` refuses a typo. */
  constructor(options: { entries?: readonly string[] } = {}) {
    this.known = options.entries;
  }

  /** The messages taken, oldest first (a copy). */
  get messages(): SentMessage[] {
    return [...this.sent];
  }

  /** Every hand-over to a test entry, oldest first, failed ones included (a copy). */
  get attempts(): TestAttempt[] {
    return [...this.tried];
  }

  /** The last message taken, if any. */
  last(): SentMessage | undefined {
    return this.sent.at(-1);
  }

  /** The messages that match (all given fields), or that the predicate accepts. */
  find(match: MessageMatch | ((message: SentMessage) => boolean) = {}): SentMessage[] {
    const test = typeof match === 'function' ? match : (m: SentMessage) => mismatch(m, match) === undefined;
    return this.sent.filter(test);
  }

  /** Forgets the messages and attempts recorded; faults stay (see `reset`). */
  clear(): void {
    this.sent.length = 0;
    this.tried.length = 0;
  }

  /** Forgets everything: messages, attempts, and every fault (every entry up). */
  reset(): void {
    this.clear();
    // Emptied in place: an entry handle taken before (`const primary = outbox.entry('primary')`) keeps working.
    for (const state of [...this.faults.values(), this.anyEntry]) {
      state.queue.length = 0;
      delete state.down;
    }
  }

  /** One provider entry: its messages, and faults for it alone. */
  entry(name: string): TestEntry {
    if (this.known && !this.known.includes(name)) {
      throw new Error(`no provider entry is named "${name}" (entries: ${this.known.join(', ')})`);
    }
    return new TestEntry(this, name, this.stateOf(name));
  }

  /**
   * The next `count` attempts, on whichever entry, fail with this error (after the faults set on the entry
   * itself). A failover route moves on exactly as it would in production.
   */
  failNext(count: number, fault: Fault, options?: FaultOptions): this {
    queueFault(this.anyEntry, count, fault, options);
    return this;
  }

  /** Resolves with the first message that matches, now or when one is sent; rejects after `timeoutMs`. */
  waitFor(match: MessageMatch = {}, options: { timeoutMs?: number } = {}): Promise<SentMessage> {
    const timeoutMs = options.timeoutMs ?? 2_000;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.find(match)[0];
        if (!found) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new OutboxAssertionError(
            `Expected ${describeWanted(match)} within ${timeoutMs} ms, but ${noneMatched(this.sent, match)}`,
            { actual: this.sent.map(summary), expected: describeMatch(match) },
          ),
        );
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  /**
   * Passes when a sent message matches (exactly `count` of them, when given); else throws an
   * `OutboxAssertionError` listing what was sent and, for each message, the first field that differs.
   */
  assertSent(expected: SentAssertion = {}): SentMessage[] {
    const { count, ...match } = expected;
    const found = this.find(match);
    const ok = count === undefined ? found.length > 0 : found.length === count;
    if (!ok) {
      const wanted = count === undefined ? describeWanted(match) : describeWanted(match, count);
      const why =
        count === undefined || found.length === 0
          ? noneMatched(this.sent, match)
          : `${found.length} of the ${plural(this.sent.length, 'sent message')} ${found.length === 1 ? 'matches' : 'match'}:\n${list(this.sent, match)}`;
      throw new OutboxAssertionError(
        `Expected ${wanted}, but ${why}`,
        {
          actual: count === undefined ? this.sent.map(summary) : found.length,
          expected: count === undefined ? describeMatch(match) : count,
          showDiff: count !== undefined,
        },
        this.assertSent,
      );
    }
    return found;
  }

  /** Passes when no sent message matches (no message at all, without criteria). */
  assertNotSent(match: MessageMatch = {}): void {
    this.refuse(match, this.assertNotSent);
  }

  /** Passes when no message was sent at all. */
  assertNothingSent(): void {
    this.refuse({}, this.assertNothingSent);
  }

  // biome-ignore lint/complexity/noBannedTypes: the assertion the caller called, where the stack starts
  private refuse(match: MessageMatch, stackStart: Function): void {
    const found = this.find(match);
    if (found.length === 0) return;
    const what = Object.keys(match).length
      ? `no ${describeWanted(match).replace(/^a message/, 'message')}`
      : 'no message';
    const how =
      found.length === this.sent.length
        ? `${plural(found.length, 'message')} ${found.length === 1 ? 'was' : 'were'} sent`
        : `${found.length} of the ${plural(this.sent.length, 'sent message')} ${found.length === 1 ? 'matches' : 'match'}`;
    throw new OutboxAssertionError(
      `Expected ${what}, but ${how}:\n${list(found, {})}`,
      { actual: found.map(summary), expected: [] },
      stackStart,
    );
  }

  /** Passes when exactly `count` messages were sent. */
  assertCount(count: number): void {
    if (this.sent.length === count) return;
    const sent = this.sent.length === 0 ? 'none was' : `${this.sent.length} ${this.sent.length === 1 ? 'was' : 'were'}`;
    const detail = this.sent.length ? `:\n${list(this.sent, {})}` : '';
    throw new OutboxAssertionError(
      `Expected ${plural(count, 'message')} to be sent, but ${sent}${detail}`,
      { actual: this.sent.length, expected: count, showDiff: true },
      this.assertCount,
    );
  }

  /** @internal */
  stateOf(name: string): FaultState {
    let state = this.faults.get(name);
    if (!state) {
      state = { queue: [] };
      this.faults.set(name, state);
    }
    return state;
  }

  /** @internal The recording adapter's send: a fault fires, or the message is recorded. */
  async [HAND_OVER](entry: RecordingEntry, prepared: PreparedMessage): Promise<AdapterSendResult> {
    const plan = takeFault(this.faults.get(entry.name)) ?? takeFault(this.anyEntry);
    if (plan) {
      const context: FaultContext = { entry: entry.name, provider: entry.provider, mode: entry.mode, prepared };
      const error = plan.make(context);
      const providerMessageId = plan.delivered ? this.record(entry, prepared).providerMessageId : undefined;
      if (providerMessageId && isMailrouteError(error)) Object.assign(error, { providerMessageId });
      this.tried.push({
        ...attemptOf(entry, prepared),
        outcome: 'failed',
        error,
        ...(isMailrouteError(error) ? { errorCode: error.code } : {}),
      });
      if (plan.delivered) this.wake();
      throw error;
    }
    // An SMTP mode sends the MIME message: composing it here gives the result its exact size, as in production.
    if (entry.mode === 'smtp') await prepared.mime();
    const message = this.record(entry, prepared);
    this.tried.push({ ...attemptOf(entry, prepared), outcome: 'sent' });
    this.wake();
    return { providerMessageId: message.providerMessageId, accepted: [...prepared.envelope.to], rejected: [] };
  }

  /** @internal `verify()` of an entry: a down entry fails it. */
  [VERIFY](entry: RecordingEntry): void {
    const down = this.faults.get(entry.name)?.down ?? this.anyEntry.down;
    if (!down) return;
    const error = down.make({ entry: entry.name, provider: entry.provider, mode: entry.mode, prepared: VERIFYING });
    throw error;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private record(entry: RecordingEntry, prepared: PreparedMessage): SentMessage {
    const m = prepared.message;
    const message: SentMessage = {
      index: this.sent.length + 1,
      entry: entry.name,
      provider: entry.provider,
      mode: entry.mode,
      messageId: prepared.messageId,
      providerMessageId: `test-${randomUUID()}`,
      from: { ...m.from },
      to: m.to.map((a) => ({ ...a })),
      cc: m.cc.map((a) => ({ ...a })),
      bcc: m.bcc.map((a) => ({ ...a })),
      replyTo: m.replyTo.map((a) => ({ ...a })),
      subject: m.subject,
      ...(m.text === undefined ? {} : { text: m.text }),
      ...(m.html === undefined ? {} : { html: m.html }),
      attachments: m.attachments.map((a) => ({ ...a })),
      headers: { ...m.headers },
      tags: m.tags.map((t) => ({ ...t })),
      metadata: { ...m.metadata },
      ...(m.idempotencyKey === undefined ? {} : { idempotencyKey: m.idempotencyKey }),
      envelope: { from: prepared.envelope.from, to: [...prepared.envelope.to] },
      sentAt: new Date(),
      message: m,
      mime: () => prepared.mime(),
    };
    this.sent.push(message);
    return message;
  }
}

/** A prepared message for `verify()`, which has none: a fault function given it sees an empty envelope. */
const VERIFYING = {
  envelope: { from: '', to: [] },
  sizeUpperBound: 0,
} as unknown as PreparedMessage;

/** One provider entry of a test mailer: its messages and attempts, and faults for it alone. */
export class TestEntry {
  readonly name: string;
  private readonly outbox: TestOutbox;
  private readonly state: FaultState;

  /** @internal Use `outbox.entry(name)`. */
  constructor(outbox: TestOutbox, name: string, state: FaultState) {
    this.outbox = outbox;
    this.name = name;
    this.state = state;
  }

  /** The messages this entry took. */
  get messages(): SentMessage[] {
    return this.outbox.find({ entry: this.name });
  }

  /** Every hand-over to this entry, failed ones included. */
  get attempts(): TestAttempt[] {
    return this.outbox.attempts.filter((a) => a.entry === this.name);
  }

  /** Whether `down()` is in force. */
  get isDown(): boolean {
    return this.state.down !== undefined;
  }

  /**
   * The next `count` attempts handed to this entry fail with this error: a code (`'PROVIDER_UNAVAILABLE'`), an
   * error class (`ThrottledError`) or a function returning the error. Calls add up, in order.
   */
  failNext(count: number, fault: Fault, options?: FaultOptions): this {
    queueFault(this.state, count, fault, options);
    return this;
  }

  /** Every attempt fails (default: `PROVIDER_UNAVAILABLE`) until `up()`; `verify()` fails too. */
  down(fault: Fault = 'PROVIDER_UNAVAILABLE', options?: FaultOptions): this {
    this.state.down = planFault(fault, options);
    return this;
  }

  /**
   * Ends `down()` and drops the faults not yet used. The mailer's health still remembers the failures, as in
   * production: an entry marked down is skipped until its cool-down (`health.cooldownMs`) has passed.
   */
  up(): this {
    delete this.state.down;
    this.state.queue.length = 0;
    return this;
  }
}

function queueFault(state: FaultState, count: number, fault: Fault, options?: FaultOptions): void {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`failNext: count must be a whole number ≥ 1, got ${count}`);
  state.queue.push({ remaining: count, plan: planFault(fault, options) });
}

function takeFault(state: FaultState | undefined): FaultPlan | undefined {
  if (!state) return undefined;
  if (state.down) return state.down;
  const next = state.queue[0];
  if (!next) return undefined;
  next.remaining -= 1;
  if (next.remaining === 0) state.queue.shift();
  return next.plan;
}

function attemptOf(entry: RecordingEntry, prepared: PreparedMessage) {
  return {
    entry: entry.name,
    provider: entry.provider,
    mode: entry.mode,
    messageId: prepared.messageId,
    subject: prepared.message.subject,
  };
}

// Matching: each criterion returns undefined when it holds, else a short phrase saying what the message has.

function addressKey(text: string): string {
  const parsed = parseAddress(text);
  return (parsed.ok ? parsed.value.address : text.trim()).toLowerCase();
}

function formatAddress(a: MailAddress): string {
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

function addressMatches(a: MailAddress, want: TextMatch): boolean {
  if (typeof want === 'string') return a.address.toLowerCase() === addressKey(want);
  want.lastIndex = 0;
  if (want.test(a.address)) return true;
  want.lastIndex = 0;
  return want.test(formatAddress(a));
}

function textMatches(value: string | undefined, want: TextMatch, exact: boolean): boolean {
  if (value === undefined) return false;
  if (typeof want === 'string') return exact ? value === want : value.includes(want);
  want.lastIndex = 0;
  return want.test(value);
}

function show(want: TextMatch): string {
  return typeof want === 'string' ? JSON.stringify(want) : String(want);
}

function showAddresses(list: readonly MailAddress[]): string {
  return list.length ? list.map(formatAddress).join(', ') : 'nobody';
}

function listOf<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

function attachmentMatches(a: SentAttachment, want: TextMatch | AttachmentMatch): boolean {
  if (typeof want === 'string' || want instanceof RegExp) return textMatches(a.filename, want, true);
  if (want.filename !== undefined && !textMatches(a.filename, want.filename, true)) return false;
  if (want.contentType !== undefined && !textMatches(a.contentType, want.contentType, true)) return false;
  if (want.content !== undefined) {
    const bytes = typeof want.content === 'string' ? Buffer.from(want.content) : want.content;
    if (!a.content.equals(bytes)) return false;
  }
  return true;
}

function showAttachment(want: TextMatch | AttachmentMatch): string {
  if (typeof want === 'string' || want instanceof RegExp) return show(want);
  const parts = [
    want.filename === undefined ? '' : show(want.filename),
    want.contentType === undefined ? '' : `of type ${show(want.contentType)}`,
    want.content === undefined ? '' : 'with the given content',
  ];
  return parts.filter(Boolean).join(' ') || 'any';
}

/** The first criterion the message fails, as a phrase, or undefined when it matches. */
export function mismatch(m: SentMessage, match: MessageMatch): string | undefined {
  const fields = [
    ['to', m.to],
    ['cc', m.cc],
    ['bcc', m.bcc],
    ['recipient', [...m.to, ...m.cc, ...m.bcc]],
  ] as const;
  for (const [field, addresses] of fields) {
    const want = match[field];
    if (want === undefined) continue;
    for (const w of listOf(want)) {
      if (!addresses.some((a) => addressMatches(a, w))) {
        const label = field === 'recipient' ? 'recipients are' : `${field} is`;
        return `${label} ${showAddresses(addresses)}, not ${show(w)}`;
      }
    }
  }
  if (match.from !== undefined && !addressMatches(m.from, match.from)) {
    return `from is ${formatAddress(m.from)}, not ${show(match.from)}`;
  }
  if (match.replyTo !== undefined && !m.replyTo.some((a) => addressMatches(a, match.replyTo!))) {
    return `reply-to is ${showAddresses(m.replyTo)}, not ${show(match.replyTo)}`;
  }
  if (match.subject !== undefined && !textMatches(m.subject, match.subject, true)) {
    return `subject is ${JSON.stringify(m.subject)}`;
  }
  for (const body of ['text', 'html'] as const) {
    const want = match[body];
    if (want === undefined || textMatches(m[body], want, false)) continue;
    if (m[body] === undefined) return `it has no ${body} body`;
    return `its ${body} body does not ${typeof want === 'string' ? 'contain' : 'match'} ${show(want)}`;
  }
  if (match.attachment !== undefined && !m.attachments.some((a) => attachmentMatches(a, match.attachment!))) {
    const names = m.attachments.map((a) => JSON.stringify(a.filename));
    return names.length ? `its attachments are ${names.join(', ')}` : 'it has no attachment';
  }
  for (const [name, want] of Object.entries(match.headers ?? {})) {
    const key = Object.keys(m.headers).find((k) => k.toLowerCase() === name.toLowerCase());
    const value = key === undefined ? undefined : m.headers[key];
    if (value === undefined) return `it has no ${name} header`;
    if (!textMatches(value, want, true)) return `its ${name} header is ${JSON.stringify(value)}`;
  }
  if (match.tag !== undefined) {
    const want = typeof match.tag === 'string' ? { name: match.tag } : match.tag;
    const has = m.tags.some((t) => t.name === want.name && ('value' in want ? t.value === want.value : true));
    if (!has)
      return m.tags.length ? `its tags are ${m.tags.map((t) => `${t.name}=${t.value}`).join(', ')}` : 'it has no tag';
  }
  for (const [key, value] of Object.entries(match.metadata ?? {})) {
    if (m.metadata[key] !== value) {
      return key in m.metadata
        ? `its metadata ${key} is ${JSON.stringify(m.metadata[key])}`
        : `it has no metadata ${key}`;
    }
  }
  if (match.entry !== undefined && m.entry !== match.entry) return `it went through ${m.entry}`;
  if (match.idempotencyKey !== undefined && m.idempotencyKey !== match.idempotencyKey) {
    return m.idempotencyKey === undefined
      ? 'it has no idempotency key'
      : `its idempotency key is ${JSON.stringify(m.idempotencyKey)}`;
  }
  if (match.where && !match.where(m)) return 'the `where` predicate refused it';
  return undefined;
}

/** The criteria, in words: `to "bob@example.org", subject matching /Welcome/`. */
export function describeMatch(match: MessageMatch): string {
  const parts: string[] = [];
  const addresses = (label: string, want: TextMatch | TextMatch[] | undefined) => {
    if (want !== undefined) parts.push(`${label} ${listOf(want).map(show).join(' and ')}`);
  };
  addresses('to', match.to);
  addresses('cc', match.cc);
  addresses('bcc', match.bcc);
  addresses('delivered to', match.recipient);
  if (match.from !== undefined) parts.push(`from ${show(match.from)}`);
  if (match.replyTo !== undefined) parts.push(`reply-to ${show(match.replyTo)}`);
  if (match.subject !== undefined) {
    parts.push(
      typeof match.subject === 'string' ? `subject ${show(match.subject)}` : `subject matching ${match.subject}`,
    );
  }
  for (const body of ['text', 'html'] as const) {
    const want = match[body];
    if (want !== undefined) {
      parts.push(typeof want === 'string' ? `${body} containing ${show(want)}` : `${body} matching ${want}`);
    }
  }
  if (match.attachment !== undefined) parts.push(`attachment ${showAttachment(match.attachment)}`);
  for (const [name, want] of Object.entries(match.headers ?? {})) parts.push(`header ${name}: ${show(want)}`);
  if (match.tag !== undefined) {
    const t = match.tag;
    parts.push(typeof t === 'string' ? `tag ${show(t)}` : `tag ${t.name}=${t.value}`);
  }
  for (const [key, value] of Object.entries(match.metadata ?? {}))
    parts.push(`metadata ${key}=${JSON.stringify(value)}`);
  if (match.entry !== undefined) parts.push(`through entry ${show(match.entry)}`);
  if (match.idempotencyKey !== undefined) parts.push(`idempotency key ${show(match.idempotencyKey)}`);
  if (match.where) parts.push('accepted by `where`');
  return parts.join(', ');
}

function describeWanted(match: MessageMatch, count?: number): string {
  const criteria = describeMatch(match);
  const noun = count === undefined ? 'a message' : plural(count, 'message');
  return criteria ? `${noun} ${criteria}` : count === undefined ? 'a message to be sent' : `${noun} to be sent`;
}

function noneMatched(sent: SentMessage[], match: MessageMatch): string {
  if (sent.length === 0) return 'no message was sent';
  if (Object.keys(match).length === 0)
    return `${plural(sent.length, 'message')} ${sent.length === 1 ? 'was' : 'were'} sent`;
  const of =
    sent.length === 1 ? 'the only message sent does not match' : `none of the ${sent.length} sent messages matches`;
  return `${of}:\n${list(sent, match)}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** One line per message: `#1 primary: "Welcome" from a@x to b@y`, and why it does not match. */
function list(messages: SentMessage[], match: MessageMatch): string {
  const lines = messages.slice(0, 20).map((m) => {
    const why = Object.keys(match).length ? mismatch(m, match) : undefined;
    return `  ${summary(m)}${why ? `\n      ${why}` : ''}`;
  });
  if (messages.length > 20) lines.push(`  ... and ${messages.length - 20} more`);
  return lines.join('\n');
}

function summary(m: SentMessage): string {
  const to = [
    ...m.to,
    ...m.cc.map((a) => ({ ...a, address: `cc:${a.address}` })),
    ...m.bcc.map((a) => ({ ...a, address: `bcc:${a.address}` })),
  ];
  const attachments = m.attachments.length ? ` [${m.attachments.map((a) => a.filename).join(', ')}]` : '';
  return `#${m.index} ${m.entry}: ${JSON.stringify(m.subject)} from ${m.from.address} to ${to.map((a) => a.address).join(', ')}${attachments}`;
}
