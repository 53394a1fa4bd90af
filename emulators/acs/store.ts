import type { AcsErrorDetail } from './errors.ts';

export type AcsSendStatus = 'NotStarted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled';

/** One accepted `emails:send` request, as the emulator received it. */
export interface StoredAcsEmail {
  operationId: string;
  apiVersion: string;
  /** The parsed request body (an `EmailMessage`). */
  body: Record<string, unknown>;
  /** The request headers, lower-cased by Node. */
  headers: Record<string, string | string[] | undefined>;
  /** The `Operation-Id` request header, when the client sent one. */
  operationIdHeader?: string;
  receivedAt: Date;
  /** How many later requests carried the same Operation-Id and were answered with this operation. */
  repeats: number;
}

/** How an accepted operation ends; armed with `outcomes.add()` or `POST /_emulator/outcomes`. */
export interface OutcomeRule {
  status: 'Succeeded' | 'Failed' | 'Canceled';
  /** Defaults to the spec's example: `EmailDropped`. */
  error?: AcsErrorDetail;
  /** Apply to the next N matching operations (default 1). */
  count?: number;
  /** Only emails with a to/cc/bcc address containing this string. */
  recipientIncludes?: string;
}

interface Operation {
  id: string;
  polls: number;
  notStartedPolls: number;
  runningPolls: number;
  outcome: { status: 'Succeeded' | 'Failed' | 'Canceled'; error?: AcsErrorDetail };
}

const emailDropped: AcsErrorDetail = {
  code: 'EmailDropped',
  message: 'Email was dropped after several attempts to deliver.',
};

export class OutcomePlan {
  private rules: (OutcomeRule & { remaining: number })[] = [];

  add(rule: OutcomeRule): void {
    this.rules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  clear(): void {
    this.rules = [];
  }

  /** The terminal outcome for a new operation; decided once at send time so polling is repeatable. */
  take(recipients: readonly string[]): Operation['outcome'] {
    const rule = this.rules.find(
      (r) => r.remaining > 0 && (!r.recipientIncludes || recipients.some((a) => a.includes(r.recipientIncludes!))),
    );
    if (!rule) return { status: 'Succeeded' };
    rule.remaining -= 1;
    if (rule.remaining === 0) this.rules = this.rules.filter((r) => r !== rule);
    if (rule.status === 'Succeeded') return { status: 'Succeeded' };
    return { status: rule.status, error: rule.error ?? (rule.status === 'Failed' ? emailDropped : undefined) };
  }
}

export class AcsStore {
  readonly emails: StoredAcsEmail[] = [];
  private readonly operations = new Map<string, Operation>();

  /** Finds the operation a repeated Operation-Id refers to, counting the repeat on its email. */
  repeat(operationId: string): boolean {
    const email = this.emails.find((e) => e.operationId === operationId);
    if (!email) return false;
    email.repeats += 1;
    return true;
  }

  accept(
    email: StoredAcsEmail,
    phases: { notStartedPolls: number; runningPolls: number },
    outcome: Operation['outcome'],
  ): void {
    this.emails.push(email);
    this.operations.set(email.operationId.toLowerCase(), { id: email.operationId, polls: 0, ...phases, outcome });
  }

  /** Status as the send response reports it: what a poll would say, without counting as a poll. */
  peek(operationId: string): { id: string; status: AcsSendStatus; error?: AcsErrorDetail } | undefined {
    const op = this.operations.get(operationId.toLowerCase());
    return op && statusAfter(op, op.polls);
  }

  /** One `GET /emails/operations/{id}`: NotStarted and Running for the configured polls, then terminal. */
  poll(operationId: string): { id: string; status: AcsSendStatus; error?: AcsErrorDetail } | undefined {
    const op = this.operations.get(operationId.toLowerCase());
    if (!op) return undefined;
    op.polls += 1;
    return statusAfter(op, op.polls);
  }

  clear(): void {
    this.emails.length = 0;
    this.operations.clear();
  }
}

function statusAfter(op: Operation, polls: number): { id: string; status: AcsSendStatus; error?: AcsErrorDetail } {
  // The send response itself is "poll 0": it says NotStarted when NotStarted polls are configured, else Running.
  const { notStartedPolls: notStarted, runningPolls: running } = op;
  if (notStarted > 0 && polls <= notStarted) return { id: op.id, status: 'NotStarted' };
  if (polls === 0 || polls <= notStarted + running) return { id: op.id, status: 'Running' };
  const { status, error } = op.outcome;
  return error ? { id: op.id, status, error } : { id: op.id, status };
}
