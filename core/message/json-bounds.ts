import type { FieldIssue } from '../errors.ts';
import { formatPath } from './paths.ts';

/**
 * How deep a message's JSON may nest. A valid message nests five levels at most (`providerOptions.ses.
 * listManagement.contactListName`); the bound leaves room for a provider registered from outside with deeper
 * options, and keeps every walk of a message (validation, the idempotency hash, logs) far from the stack's limit.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * How many JSON values (objects, lists, strings, numbers...) a message may hold. A message to a thousand
 * recipients (the most any built-in provider takes) with names holds about 3,000; the bound keeps the time spent
 * refusing a hostile one (a list of a million entries) under a second.
 */
export const MAX_JSON_VALUES = 100_000;

/**
 * How many characters a message's JSON may hold (its strings and keys, as parsed: escapes count once). Over the
 * largest message any built-in provider takes (the local inbox's 50 MiB; SES takes 40 MB), and over `serve`'s
 * body limit (60 MiB): a message this large could not be sent by any of them anyway.
 */
export const MAX_JSON_CHARS = 64 * 1024 * 1024;

export interface JsonBounds {
  depth: number;
  values: number;
  chars: number;
}

export const MESSAGE_JSON_BOUNDS: JsonBounds = {
  depth: MAX_JSON_DEPTH,
  values: MAX_JSON_VALUES,
  chars: MAX_JSON_CHARS,
};

/** A container being walked, linked to its parent so that a path is only built for the issue. */
interface Frame {
  parent: Frame | undefined;
  key: PropertyKey | undefined;
  depth: number;
}

function pathOf(frame: Frame | undefined, key?: PropertyKey): PropertyKey[] {
  const path: PropertyKey[] = key === undefined ? [] : [key];
  for (let f = frame; f?.key !== undefined; f = f.parent) path.unshift(f.key);
  return path;
}

/**
 * The first bound a parsed message crosses, as a field issue, or undefined: nesting deeper than `depth`, more
 * than `values` values, more than `chars` characters, or a value JSON has no form for (a BigInt, which
 * `JSON.stringify` throws on). Walks without recursion, and stops at the first bound crossed, so a hostile
 * message (nested 100,000 deep, a list of millions, even a cycle) costs at most `values` steps and never
 * overflows the stack. Too deep names the field holding it (`providerOptions.gmail`); too many values, the
 * top-level field whose list or object went over (`to`); too many characters, the top-level field that did (`html`).
 */
export function jsonBoundsIssue(value: unknown, bounds: JsonBounds = MESSAGE_JSON_BOUNDS): FieldIssue | undefined {
  let values = 0;
  let chars = 0;
  const pending: { value: unknown; frame: Frame | undefined; key: PropertyKey | undefined }[] = [
    { value, frame: undefined, key: undefined },
  ];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const { value: v, frame, key } = item;
    values += 1;
    if (values > bounds.values) {
      // The field holding the list or object that went over (the message itself when it is the root's own fields).
      return {
        path: formatPath(pathOf(frame).slice(0, 1)),
        message: `brings the message over the limit of ${bounds.values} JSON values (fields, list entries and what they hold)`,
      };
    }
    if (typeof v === 'string') chars += v.length + 2;
    else if (typeof v === 'bigint') {
      return { path: formatPath(pathOf(frame, key)), message: 'is a BigInt, which JSON has no form for' };
    } else if (v !== null && typeof v === 'object') {
      const depth = (frame?.depth ?? 0) + 1;
      if (depth > bounds.depth) {
        return {
          path: formatPath(pathOf(frame, key).slice(0, 2)),
          message: `is nested deeper than the limit of ${bounds.depth} levels`,
        };
      }
      const here: Frame = { parent: frame, key, depth };
      if (Array.isArray(v)) {
        chars += v.length + 1;
        // Pushed last to first, so that the walk (and the issue it finds first) goes in the message's order.
        for (let i = v.length - 1; i >= 0 && pending.length <= bounds.values; i--) {
          pending.push({ value: v[i], frame: here, key: i });
        }
      } else {
        const keys = Object.keys(v);
        chars += keys.length + 1;
        for (let i = keys.length - 1; i >= 0 && pending.length <= bounds.values; i--) {
          const k = keys[i]!;
          chars += k.length + 3;
          pending.push({ value: (v as Record<string, unknown>)[k], frame: here, key: k });
        }
      }
    } else chars += typeof v === 'number' || typeof v === 'boolean' ? String(v).length : 4;
    if (chars > bounds.chars) {
      return {
        path: formatPath(pathOf(frame, key).slice(0, 1)),
        message: `brings the message over the limit of ${bounds.chars} characters`,
      };
    }
  }
  return undefined;
}
