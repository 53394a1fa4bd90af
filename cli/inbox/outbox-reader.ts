import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ParsedMail, simpleParser } from 'mailparser';
import {
  clearOutbox,
  deleteFromOutbox,
  OUTBOX_ID,
  type OutboxSummary,
  readOutboxSummary,
  recordSendInOutbox,
} from '../../providers/local/outbox.ts';

/** A captured message's summary and the outbox directory it is in. */
export interface InboxEntry extends OutboxSummary {
  dir: string;
}

/** How many parsed messages are kept: a message page asks for the same message several times (page, frame, files). */
const PARSED_CACHE = 16;

/**
 * Reads, deletes and watches the captured messages of one or more outbox directories (each local entry may have
 * its own). Messages are never changed once stored, so a parsed one is cached by id.
 */
export class OutboxReader {
  readonly dirs: readonly string[];
  private readonly parsed = new Map<string, Promise<ParsedMail>>();

  constructor(dirs: readonly string[]) {
    this.dirs = [...new Set(dirs)];
  }

  /** Every captured message, newest first. A summary that cannot be read (being deleted) is left out. */
  async list(): Promise<InboxEntry[]> {
    const perDir = await Promise.all(
      this.dirs.map(async (dir) => {
        let files: string[];
        try {
          files = await readdir(dir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw error;
        }
        const ids = files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
        const entries = await Promise.all(
          ids.filter((id) => OUTBOX_ID.test(id)).map((id) => this.entryIn(dir, id).catch(() => undefined)),
        );
        return entries.filter((e): e is InboxEntry => e !== undefined);
      }),
    );
    return perDir.flat().sort((a, b) => b.id.localeCompare(a.id));
  }

  async find(id: string): Promise<InboxEntry | undefined> {
    if (!OUTBOX_ID.test(id)) return undefined;
    for (const dir of this.dirs) {
      const entry = await this.entryIn(dir, id);
      if (entry) return entry;
    }
    return undefined;
  }

  private async entryIn(dir: string, id: string): Promise<InboxEntry | undefined> {
    const summary = await readOutboxSummary(dir, id);
    return summary ? { ...summary, id, dir } : undefined;
  }

  /** The message's bytes as captured. */
  raw(entry: InboxEntry): Promise<Buffer> {
    return readFile(join(entry.dir, `${entry.id}.eml`));
  }

  /** The parsed message: `cid:` images in the HTML become `data:` URIs of the attachments they name. */
  parse(entry: InboxEntry): Promise<ParsedMail> {
    let parsed = this.parsed.get(entry.id);
    if (!parsed) {
      parsed = this.raw(entry).then((raw) => simpleParser(raw, { skipTextToHtml: true, skipTextLinks: true }));
      parsed.catch(() => this.parsed.delete(entry.id));
      this.parsed.set(entry.id, parsed);
      if (this.parsed.size > PARSED_CACHE) this.parsed.delete(this.parsed.keys().next().value!);
    }
    return parsed;
  }

  /** Adds the send result to the capture with this id, wherever it is; false when no outbox has it. */
  async recordSend(id: string, send: Record<string, unknown>): Promise<boolean> {
    if (!OUTBOX_ID.test(id)) return false;
    for (const dir of this.dirs) if (await recordSendInOutbox(dir, id, send)) return true;
    return false;
  }

  async delete(id: string): Promise<boolean> {
    this.parsed.delete(id);
    let found = false;
    for (const dir of this.dirs) if (await deleteFromOutbox(dir, id)) found = true;
    return found;
  }

  async clear(): Promise<number> {
    this.parsed.clear();
    let deleted = 0;
    for (const dir of this.dirs) deleted += await clearOutbox(dir);
    return deleted;
  }

  /**
   * Calls `onChange` (debounced) whenever a message is stored, annotated or deleted in any of the directories.
   * A directory that does not exist yet is looked for once a second until it does. Returns the stop function.
   */
  watch(onChange: () => void, options: { debounceMs?: number; pollMs?: number } = {}): () => void {
    const debounceMs = options.debounceMs ?? 40;
    const pollMs = options.pollMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const changed = () => {
      if (stopped || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (!stopped) onChange();
      }, debounceMs);
    };
    const watchers = new Map<string, FSWatcher>();
    const polls = new Map<string, NodeJS.Timeout>();
    const attach = (dir: string) => {
      if (stopped) return;
      try {
        const watcher = watch(dir, { persistent: false }, (_event, file) => {
          // The summary is renamed into place after the .eml: one event per message stored, changed or deleted.
          if (!file || String(file).endsWith('.json')) changed();
        });
        watcher.on('error', () => {
          // The directory went away (deleted by hand): look for it again.
          watcher.close();
          watchers.delete(dir);
          changed();
          poll(dir);
        });
        watchers.set(dir, watcher);
      } catch {
        poll(dir);
      }
    };
    const poll = (dir: string) => {
      if (stopped || polls.has(dir)) return;
      const interval = setInterval(() => {
        stat(dir).then(
          (s) => {
            if (!s.isDirectory() || stopped) return;
            clearInterval(interval);
            polls.delete(dir);
            attach(dir);
            changed();
          },
          () => {},
        );
      }, pollMs);
      interval.unref();
      polls.set(dir, interval);
    };
    for (const dir of this.dirs) attach(dir);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      for (const interval of polls.values()) clearInterval(interval);
    };
  }
}
