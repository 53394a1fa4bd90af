import type { SendResult } from '../contract/adapter.ts';
import { InvalidMessageError, isMailrouteError } from '../errors.ts';
import type { Mailer, SendOptions } from '../mailer.ts';
import { validateMessage } from '../message/validate.ts';

/** What a direct invoke answers: the result, or the error's JSON (code, message, field issues); never a stack. */
export type SendAnswer = { ok: true; result: SendResult } | { ok: false; error: Record<string, unknown> };

type Parsed = { ok: true; input: unknown } | { ok: false; error: Record<string, unknown> };

/**
 * A payload as a trigger hands it over: JSON text (a queue body, an HTTP body) or an already parsed value (a
 * direct invoke's event). Text that is not JSON is refused with the same error the HTTP API gives.
 */
export function parsePayload(payload: unknown): Parsed {
  if (typeof payload !== 'string') return { ok: true, input: payload };
  try {
    return { ok: true, input: JSON.parse(payload) };
  } catch (error) {
    return {
      ok: false,
      error: {
        name: 'InvalidMessageError',
        code: 'INVALID_JSON',
        message: `the request body is not valid JSON: ${(error as Error).message}`,
        issues: [{ path: '', message: 'the request body is not valid JSON' }],
      },
    };
  }
}

/**
 * Parses and validates without sending, for a message that is put on a queue: the caller learns about a wrong
 * field now rather than from a dead-letter queue later. The consumer validates again when it sends.
 */
export function checkPayload(payload: unknown): Parsed {
  const parsed = parsePayload(payload);
  if (!parsed.ok) return parsed;
  const checked = validateMessage(parsed.input);
  return checked.ok ? parsed : { ok: false, error: new InvalidMessageError(checked.issues).toJSON() };
}

/**
 * Sends a payload now. Every error of the project's own classes is answered as `{ ok: false, error }` so the
 * caller gets its JSON; anything else (a bug) is thrown.
 *
 * @example
 * await sendPayload(mailer, event, { deadline: Date.now() + 10_000 }) // { ok: true, result: { name: 'primary', ... } }
 */
export async function sendPayload(mailer: Mailer, payload: unknown, options: SendOptions = {}): Promise<SendAnswer> {
  const parsed = parsePayload(payload);
  if (!parsed.ok) return parsed;
  try {
    return { ok: true, result: await mailer.send(parsed.input, options) };
  } catch (error) {
    if (isMailrouteError(error)) return { ok: false, error: error.toJSON() };
    throw error;
  }
}
