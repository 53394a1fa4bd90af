import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type AddressObject, type HeaderValue, MailParser } from 'mailparser';

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
  attachments?: OutboxSummary['attachments'],
): Promise<OutboxSummary> {
  await mkdir(dir, { recursive: true });
  const receivedAt = new Date();
  const id = `${receivedAt.toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  const parsed = await summarize(raw, attachments);
  const summary: OutboxSummary = {
    id,
    file: join(dir, `${id}.eml`),
    receivedAt: receivedAt.toISOString(),
    via,
    envelope,
    ...parsed,
    size: raw.length,
  };
  await writeAtomically(join(dir, `${id}.eml`), raw);
  await writeAtomically(join(dir, `${id}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** A summary's attachments from the message that was composed (the summary need not parse them out of the MIME). */
export function outboxAttachments(
  attachments: readonly { filename: string; contentType: string; content: Buffer; contentId?: string }[],
): OutboxSummary['attachments'] {
  return attachments.map((a) => ({
    filename: a.filename,
    contentType: a.contentType,
    size: a.content.length,
    ...(a.contentId ? { contentId: a.contentId } : {}),
  }));
}

type ParsedSummary = Pick<OutboxSummary, 'messageId' | 'from' | 'fromName' | 'to' | 'cc' | 'subject' | 'attachments'>;

/**
 * The summary's fields from the MIME, read as a stream: headers, and each attachment's decoded size counted as it
 * goes by and let go (simpleParser would hold every attachment whole, a second copy of a large message's bytes).
 * When the sender knows the attachments (API mode composed them), only the header section is parsed: streaming a
 * 50 MB body through the parser still doubled the peak memory of the send.
 */
function summarize(raw: Buffer, known?: OutboxSummary['attachments']): Promise<ParsedSummary> {
  if (known) {
    const end = raw.indexOf('\r\n\r\n');
    if (end >= 0) raw = raw.subarray(0, end + 4);
  }
  return new Promise((resolvePromise, reject) => {
    const parser = new MailParser({
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      checksumAlgo: false,
    });
    let headers: Map<string, HeaderValue> = new Map();
    const attachments: ParsedSummary['attachments'] = [];
    parser.on('headers', (h: Map<string, HeaderValue>) => {
      headers = h;
    });
    parser.on('data', (data: { type: string }) => {
      if (data.type !== 'attachment') return;
      const a = data as unknown as {
        content: NodeJS.ReadableStream;
        release: () => void;
        filename?: string;
        contentType: string;
        cid?: string;
        size?: number;
      };
      a.content.on('end', () => {
        attachments.push({
          ...(a.filename ? { filename: a.filename } : {}),
          contentType: a.contentType,
          size: a.size ?? 0,
          ...(a.cid ? { contentId: a.cid } : {}),
        });
        a.release();
      });
      a.content.resume();
    });
    parser.on('error', reject);
    parser.on('end', () => {
      const list = (v: HeaderValue | undefined) =>
        v ? ([] as AddressObject[]).concat(v as AddressObject).flatMap((a) => a.value.map((x) => x.address ?? '')) : [];
      const from = (headers.get('from') as AddressObject | undefined)?.value[0];
      const messageId = headers.get('message-id');
      const subject = headers.get('subject');
      resolvePromise({
        ...(typeof messageId === 'string' && messageId ? { messageId } : {}),
        ...(from?.address ? { from: from.address } : {}),
        ...(from?.name ? { fromName: from.name } : {}),
        to: list(headers.get('to')),
        cc: list(headers.get('cc')),
        ...(typeof subject === 'string' ? { subject } : {}),
        attachments: known ?? attachments,
      });
    });
    parser.end(raw);
  });
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
