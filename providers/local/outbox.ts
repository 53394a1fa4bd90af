import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { simpleParser } from 'mailparser';

export const DEFAULT_OUTBOX_DIR = '.mailroute/outbox';

/** The JSON written beside each captured `.eml`: enough to find a message without parsing MIME. */
export interface OutboxSummary {
  id: string;
  file: string;
  receivedAt: string;
  via: 'smtp' | 'api';
  envelope: { from: string; to: string[] };
  messageId?: string;
  from?: string;
  /** The sender's display name, when the From header has one. */
  fromName?: string;
  to: string[];
  cc: string[];
  subject?: string;
  size: number;
  attachments: { filename?: string; contentType: string; size: number; contentId?: string }[];
  /**
   * What the sender's send result said (route, provider, every attempt, timings), added by `mailroute serve`
   * after the send that captured it; absent for a message captured by another process.
   */
  send?: Record<string, unknown>;
}

/** A captured message's id: `storeInOutbox`'s, and nothing that could name a path outside the outbox. */
export const OUTBOX_ID = /^[A-Za-z0-9]{1,64}-[0-9a-f]{8}$/;

export function outboxPath(dir?: string): string {
  return resolve(dir ?? process.env.MAILROUTE_OUTBOX ?? DEFAULT_OUTBOX_DIR);
}

/**
 * Stores one message as `<id>.eml` plus `<id>.json`. Each file is written under a temporary name and renamed,
 * so a reader never sees half a message.
 */
export async function storeInOutbox(
  dir: string,
  raw: Buffer,
  envelope: { from: string; to: string[] },
  via: 'smtp' | 'api',
): Promise<OutboxSummary> {
  await mkdir(dir, { recursive: true });
  const receivedAt = new Date();
  const id = `${receivedAt.toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  const list = (v: typeof parsed.to) =>
    v ? (Array.isArray(v) ? v : [v]).flatMap((a) => a.value.map((x) => x.address ?? '')) : [];
  const summary: OutboxSummary = {
    id,
    file: join(dir, `${id}.eml`),
    receivedAt: receivedAt.toISOString(),
    via,
    envelope,
    ...(parsed.messageId ? { messageId: parsed.messageId } : {}),
    ...(parsed.from?.value[0]?.address ? { from: parsed.from.value[0].address } : {}),
    ...(parsed.from?.value[0]?.name ? { fromName: parsed.from.value[0].name } : {}),
    to: list(parsed.to),
    cc: list(parsed.cc),
    ...(parsed.subject === undefined ? {} : { subject: parsed.subject }),
    size: raw.length,
    attachments: parsed.attachments.map((a) => ({
      ...(a.filename ? { filename: a.filename } : {}),
      contentType: a.contentType,
      size: a.size,
      ...(a.cid ? { contentId: a.cid } : {}),
    })),
  };
  await writeAtomically(join(dir, `${id}.eml`), raw);
  await writeAtomically(join(dir, `${id}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Every captured message's summary, oldest first. */
export async function listOutbox(dir: string): Promise<OutboxSummary[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const summaries = await Promise.all(
    files
      .filter((f) => f.endsWith('.json'))
      .map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as OutboxSummary),
  );
  return summaries.sort((a, b) => a.id.localeCompare(b.id));
}

/** One captured message's summary, or undefined when there is none by that id. */
export async function readOutboxSummary(dir: string, id: string): Promise<OutboxSummary | undefined> {
  if (!OUTBOX_ID.test(id)) return undefined;
  try {
    return JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as OutboxSummary;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Adds the send result to a captured message's summary, unless it has one already (a repeated send with the same
 * idempotency key answers with the first one's capture). False when there is no such message.
 */
export async function recordSendInOutbox(dir: string, id: string, send: Record<string, unknown>): Promise<boolean> {
  const summary = await readOutboxSummary(dir, id);
  if (!summary) return false;
  if (summary.send) return true;
  await writeAtomically(join(dir, `${id}.json`), `${JSON.stringify({ ...summary, send }, null, 2)}\n`);
  return true;
}

/** Deletes one captured message (its `.json` first, so that a listing never shows a message without its `.eml`). */
export async function deleteFromOutbox(dir: string, id: string): Promise<boolean> {
  if (!OUTBOX_ID.test(id)) return false;
  const found = (await readOutboxSummary(dir, id)) !== undefined;
  await rm(join(dir, `${id}.json`), { force: true });
  await rm(join(dir, `${id}.eml`), { force: true });
  return found;
}

/** Deletes every captured message in the outbox (only its `<id>.eml` and `<id>.json` files); returns how many. */
export async function clearOutbox(dir: string): Promise<number> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const ids = new Set(files.map((f) => /^(.+)\.(?:json|eml)$/.exec(f)?.[1]).filter((id) => id && OUTBOX_ID.test(id)));
  let deleted = 0;
  for (const id of ids) if (await deleteFromOutbox(dir, id!)) deleted++;
  return deleted;
}
