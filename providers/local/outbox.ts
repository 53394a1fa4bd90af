import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
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
  to: string[];
  cc: string[];
  subject?: string;
  size: number;
  attachments: { filename?: string; contentType: string; size: number; contentId?: string }[];
}

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
