import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { MailrouteConfig } from '../core/config/config.ts';
import { EventRejectedError } from '../core/errors.ts';
import { EVENT_SOURCES, type MailEvent } from '../core/events/event.ts';
import { ingestEvents, isEventSource } from '../core/events/intake.ts';
import type { AppliedEvent } from '../core/events/mail-events.ts';
import { dsnEvents } from '../core/events/sources/dsn.ts';
import { EventStats } from '../core/events/stats.ts';
import { suppressionAddress } from '../core/events/suppression.ts';
import type { Mailer, MailerOptions } from '../core/mailer.ts';
import { createMailer, loadConfig } from '../index.ts';
import { FileStore } from '../stores/file.ts';
import type { StateStore } from '../stores/store.ts';

type Out = (line: string) => void;

/** Where the embedded default keeps its suppression list and event correlation: `MAILROUTE_STATE_FILE`, else this. */
export const DEFAULT_STATE_FILE = '.mailroute/state.json';

/**
 * The store of suppressions and events when the configuration names no shared store: one file in the working
 * directory, so the CLI, `mailroute serve` and `npm start` started there share one list. With a store configured
 * (DynamoDB, Azure Table, Redis), undefined: the mailer's own store is used.
 */
export function localEventsStore(
  config: MailrouteConfig,
  env: NodeJS.ProcessEnv = process.env,
): StateStore | undefined {
  if (config.store && config.store.type !== 'memory') return undefined;
  return new FileStore({ path: resolve(env.MAILROUTE_STATE_FILE || DEFAULT_STATE_FILE) });
}

/** A mailer for a CLI command: the configuration found, and the local events store when it names no store. */
export async function cliMailer(file: string | undefined, options: MailerOptions = {}): Promise<Mailer> {
  const { config } = loadConfig({ file });
  const eventsStore = localEventsStore(config);
  return createMailer(config, { ...options, ...(eventsStore ? { eventsStore } : {}) });
}

const usage = (message: string) => ({ ok: false, error: { name: 'UsageError', code: 'USAGE', message } });

/** The options of `suppressions` (`mailroute suppressions --help` describes them, from `cli/main.ts`). */
export const SUPPRESSIONS_ARGS = { config: { type: 'string' }, reason: { type: 'string' } } as const;

/** The options of `events ingest|poll|stats` (`mailroute events --help` describes them, from `cli/main.ts`). */
export const EVENTS_ARGS = {
  config: { type: 'string' },
  source: { type: 'string' },
  days: { type: 'string' },
  raw: { type: 'boolean' },
  entry: { type: 'string' },
  since: { type: 'string' },
  max: { type: 'string' },
} as const;

/** `mailroute suppressions list|add|remove|import`. */
export async function suppressionsCommand(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: SUPPRESSIONS_ARGS,
  });
  if (!sub || !['list', 'add', 'remove', 'import'].includes(sub)) {
    out(JSON.stringify(usage('suppressions needs list, add ADDRESS..., remove ADDRESS... or import FILE')));
    return 2;
  }
  if (sub !== 'list' && positionals.length === 0) {
    out(JSON.stringify(usage(`suppressions ${sub} needs ${sub === 'import' ? 'a FILE' : 'at least one ADDRESS'}`)));
    return 2;
  }
  const mailer = await cliMailer(values.config);
  try {
    const list = mailer.events.suppressions;
    if (sub === 'list') {
      const suppressions = await list.list();
      out(JSON.stringify({ ok: true, count: suppressions.length, suppressions }, null, 2));
      return 0;
    }
    if (sub === 'remove') {
      const removed: string[] = [];
      const absent: string[] = [];
      for (const address of positionals) ((await list.remove(address)) ? removed : absent).push(address);
      out(JSON.stringify({ ok: true, removed, ...(absent.length ? { notSuppressed: absent } : {}) }, null, 2));
      return 0;
    }
    const entries =
      sub === 'add'
        ? positionals.map((address) => ({ address, detail: values.reason }))
        : parseImport(await readFile(positionals[0]!, 'utf8'), positionals[0]!);
    const bad = entries.filter((e) => !/^[^@\s]+@[^@\s]+$/.test(e.address));
    if (bad.length) {
      out(JSON.stringify(usage(`not an email address: ${bad.map((e) => JSON.stringify(e.address)).join(', ')}`)));
      return 2;
    }
    const since = new Date().toISOString();
    for (const e of entries) {
      await list.add({ address: e.address, reason: 'manual', since, ...(e.detail ? { detail: e.detail } : {}) });
    }
    out(JSON.stringify({ ok: true, added: entries.map((e) => suppressionAddress(e.address)) }, null, 2));
    return 0;
  } finally {
    await mailer.close();
  }
}

/**
 * An import file: one address per line, optionally `,reason` after it (a CSV with a header row `address,...`
 * works, as do exports of providers' suppression lists with the address first); `#` comments and blank lines skipped.
 */
function parseImport(text: string, file: string): { address: string; detail?: string }[] {
  const out: { address: string; detail?: string }[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [address = '', ...rest] = line.split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (i === 0 && !address.includes('@')) continue; // a header row
    const detail = rest.filter(Boolean).join(', ') || `imported from ${file}`;
    out.push({ address, detail });
  }
  return out;
}

/** `mailroute events ingest --source S FILE|-`, `events poll --entry NAME` and `events stats [--days N]`. */
export async function eventsCommand(args: string[], out: Out, readStdin: () => Promise<string>): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: EVENTS_ARGS,
  });
  const print = (applied: AppliedEvent[]) => {
    for (const { event, suppression, repeated } of applied) {
      const { raw, ...rest } = event;
      const effects = { ...(suppression ? { suppression } : {}), ...(repeated ? { repeated } : {}) };
      out(JSON.stringify({ ...rest, ...effects, ...(values.raw ? { raw } : {}) }));
    }
  };
  if (sub === 'poll') return pollCommand(values, out, print);
  if (sub === 'stats') {
    const days = Number(values.days ?? 30);
    if (!Number.isInteger(days) || days < 1) {
      out(JSON.stringify(usage(`--days must be a whole number of days, at least 1, not "${values.days}"`)));
      return 2;
    }
    const mailer = await cliMailer(values.config);
    try {
      const since = EventStats.day(Date.now() - (days - 1) * 86_400_000);
      const stats = mailer.events.stats;
      const providers = stats ? await stats.summary(since) : [];
      out(JSON.stringify({ ok: true, since, days, providers }, null, 2));
      return 0;
    } finally {
      await mailer.close();
    }
  }
  if (sub !== 'ingest') {
    out(JSON.stringify(usage('events needs ingest --source SOURCE FILE, poll --entry NAME, or stats [--days N]')));
    return 2;
  }
  const source = values.source ?? '';
  if (!isEventSource(source)) {
    out(JSON.stringify(usage(`--source must be one of ${EVENT_SOURCES.join(', ')}, not "${source}"`)));
    return 2;
  }
  const file = positionals[0];
  if (!file) {
    out(JSON.stringify(usage('events ingest needs a FILE (or - for standard input)')));
    return 2;
  }
  const body = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  const mailer = await cliMailer(values.config);
  try {
    // A file given by the operator is trusted as such; an SNS envelope in it is still verified by its signature.
    const { applied } = await ingestEvents(mailer, source, { body, authenticated: true });
    print(applied);
    return 0;
  } finally {
    await mailer.close();
  }
}

const DAY_MS = 86_400_000;

/**
 * `mailroute events poll --entry NAME [--since HOURS] [--max N]`: reads the bounces (DSNs) that came back to a Gmail
 * entry's sending mailbox through the Gmail API (the service account needs gmail.readonly), applies them and prints
 * them. Where the last poll stopped is kept in the events store (`poll:gmail:<entry>`), so each run reads only
 * what is new; a message read twice (Gmail's `after:` is to the second) is skipped by its id.
 */
async function pollCommand(
  values: { config?: string; entry?: string; since?: string; max?: string },
  out: Out,
  print: (applied: AppliedEvent[]) => void,
): Promise<number> {
  const hours = values.since === undefined ? undefined : Number(values.since);
  const max = values.max === undefined ? undefined : Number(values.max);
  if (hours !== undefined && !(hours > 0)) {
    out(JSON.stringify(usage(`--since is a number of hours, more than 0, not "${values.since}"`)));
    return 2;
  }
  if (max !== undefined && !(Number.isInteger(max) && max > 0)) {
    out(JSON.stringify(usage(`--max is a whole number, at least 1, not "${values.max}"`)));
    return 2;
  }
  const mailer = await cliMailer(values.config);
  try {
    const gmail = mailer.config.providers.filter((p) => p.provider === 'gmail');
    const entry = values.entry ? gmail.find((p) => p.name === values.entry) : gmail.length === 1 ? gmail[0] : undefined;
    if (!entry) {
      const have = gmail.map((p) => p.name).join(', ') || 'none';
      out(JSON.stringify(usage(`--entry must name a gmail provider entry (have: ${have})`)));
      return 2;
    }
    const { gmailBounces } = await import('../providers/gmail/bounces.ts');
    const store = mailer.events.store;
    const markKey = `poll:gmail:${entry.name}`;
    const mark = await store.get<{ after: number }>(markKey);
    const after = new Date(
      hours !== undefined ? Date.now() - hours * 3_600_000 : (mark?.value.after ?? Date.now() - 7 * DAY_MS),
    );
    let latest = after.getTime();
    let skipped = 0;
    type Entry = Parameters<typeof gmailBounces>[0];
    for await (const bounce of gmailBounces(
      entry as unknown as Entry,
      max === undefined ? { after } : { after, maxMessages: max },
    )) {
      latest = Math.max(latest, Number(bounce.internalDate));
      const seenKey = `seen:gmail:${entry.name}:${bounce.id}`;
      if (await store.get(seenKey)) continue;
      let events: MailEvent[];
      try {
        events = await dsnEvents(bounce.raw, { provider: 'gmail' });
      } catch (error) {
        // From a mailer daemon, but no delivery report (a notice, an auto-reply): read once, not applied.
        if (!(error instanceof EventRejectedError)) throw error;
        skipped++;
        events = [];
      }
      print(await mailer.events.apply(events));
      await store.put(seenKey, 1, { ttlMs: 30 * DAY_MS });
    }
    const next = { after: latest };
    if (!mark) await store.put(markKey, next);
    else await store.update(markKey, next, mark.version);
    if (skipped) process.stderr.write(`${skipped} message(s) from a mailer daemon held no delivery report\n`);
    return 0;
  } finally {
    await mailer.close();
  }
}
