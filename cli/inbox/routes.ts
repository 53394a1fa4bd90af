import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MailrouteConfig } from '../../core/config/config.ts';
import type { SendResult } from '../../core/contract/adapter.ts';
import { Correlation, type SentRecord } from '../../core/events/correlation.ts';
import type { Mailer } from '../../core/mailer.ts';
import { OUTBOX_ID, outboxPath } from '../../providers/local/outbox.ts';
import { INBOX_CSS, INBOX_JS } from './assets.ts';
import type { Html } from './html.ts';
import { type InboxEntry, OutboxReader } from './outbox-reader.ts';
import {
  type DeliveryView,
  deliveryFragment,
  type ListView,
  listFragment,
  listPage,
  matches,
  messagePage,
  notFoundPage,
} from './pages.ts';

/** The inbox's pages: no inline script, nothing from elsewhere, never framed by another site. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * A message's own HTML: no script (sandboxed, also when opened directly), nothing remote (no image, style, font
 * or frame from a URL: a tracking pixel is not fetched); inline styles and `data:` images (the `cid:` images,
 * inlined from the attachments) only. Links open in a new tab.
 */
export const MAIL_CSP =
  "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox";

/** A file for download: never rendered by the browser, whatever its type says. */
const FILE_CSP = "default-src 'none'; sandbox";

/** How many send results are kept in memory, for captures this server cannot annotate (another outbox). */
const RECENT_RESULTS = 500;
/** Form bodies of the delete buttons hold a token; anything much bigger is not from the page. */
const MAX_FORM_BYTES = 8 * 1024;

export interface InboxOptions {
  /** The address the server listens on: on loopback, requests must name a loopback host (no DNS rebinding). */
  host: string;
  /**
   * The server checked the Host already (`serve`, core/runtime/http-guard.ts: loopback names, the configured public
   * hosts), so the inbox does not check it again, and a public host behind a reverse proxy is not refused here.
   */
  hostChecked?: boolean;
  /** The outbox directories; default: each local entry's, else the configuration's. */
  dirs?: string[];
}

/** The outbox directories of a configuration: each local entry's (or the shared one), as the local adapter finds them. */
export function inboxDirs(config: MailrouteConfig): string[] {
  const locals = config.providers.filter((p) => p.provider === 'local');
  const dirs = locals.map((p) => outboxPath((p.outboxDir as string | undefined) ?? config.outboxDir));
  return [...new Set(dirs.length ? dirs : [outboxPath(config.outboxDir)])];
}

/**
 * The web inbox `mailroute serve` (`npm start`) shows at its root: the captured messages, live, each with its
 * HTML, text, headers, source, attachments, route, attempts and delivery events; search; delete one or all.
 * Every path but the HTTP API's (`/v1/*`, `/healthz`) is its.
 */
export class Inbox {
  readonly reader: OutboxReader;
  /** Put in each page; a delete must carry it or come from the page's own origin. */
  readonly token = randomBytes(24).toString('base64url');
  private readonly mailer: Mailer;
  private readonly loopback: boolean;
  private readonly recent = new Map<string, Record<string, unknown>>();
  private readonly clients = new Set<ServerResponse>();
  private stopWatching: (() => void) | undefined;
  private version = 0;

  constructor(mailer: Mailer, options: InboxOptions) {
    this.mailer = mailer;
    this.reader = new OutboxReader(options.dirs ?? inboxDirs(mailer.config));
    this.loopback = !options.hostChecked && isLoopbackName(options.host);
  }

  /**
   * After a send through `POST /v1/send`: its result goes into the capture's JSON when a local entry captured it
   * here (so the page shows the route and attempts after a restart too), and into memory by Message-ID.
   */
  async recordSend(result: SendResult): Promise<void> {
    const { details: _details, ...send } = result as SendResult & { details?: unknown };
    const recorded = { ...send, recordedAt: new Date().toISOString() };
    this.recent.delete(bareId(result.messageId));
    this.recent.set(bareId(result.messageId), recorded);
    if (this.recent.size > RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value!);
    if (result.provider === 'local' && result.providerMessageId && !result.duplicate) {
      await this.reader.recordSend(result.providerMessageId, recorded).catch(() => false);
    }
    this.changed();
  }

  /** Ends the live streams and stops watching the outbox (before the server closes). */
  close(): void {
    for (const client of this.clients) client.end();
    this.clients.clear();
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://inbox.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (!this.hostAllowed(req)) {
      req.resume();
      return sendJson(res, 421, {
        ok: false,
        error: {
          code: 'MISDIRECTED',
          message: 'the inbox answers on a loopback host name only (localhost, 127.0.0.1)',
        },
      });
    }
    if (method === 'POST' || method === 'DELETE') return this.mutate(req, res, path, method);
    req.resume();
    if (method !== 'GET' && method !== 'HEAD') {
      return sendJson(
        res,
        405,
        { ok: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } },
        { allow: 'GET' },
      );
    }
    if (path === '/') return this.listRoute(res, url.searchParams);
    if (path === '/events') return this.eventsRoute(res);
    if (path === '/inbox.js') return sendText(res, 200, 'text/javascript; charset=utf-8', INBOX_JS);
    if (path === '/inbox.css') return sendText(res, 200, 'text/css; charset=utf-8', INBOX_CSS);
    const parts = /^\/messages\/([^/]+)(?:\/(raw|html|attachments\/(\d{1,5})))?\/?$/.exec(path);
    const entry = parts && OUTBOX_ID.test(parts[1]!) ? await this.reader.find(parts[1]!) : undefined;
    if (!parts || !entry) {
      // A fragment of a deleted message answers 404 too: the page then says it was deleted.
      return sendPage(
        res,
        404,
        notFoundPage(this.token, parts ? 'No captured message has this id.' : `No page ${path}.`),
      );
    }
    if (parts[2] === 'raw') return this.rawRoute(res, entry, url.searchParams.has('download'));
    if (parts[2] === 'html') return this.htmlRoute(res, entry);
    if (parts[3] !== undefined) return this.attachmentRoute(res, entry, Number(parts[3]));
    const [parsed, delivery] = await Promise.all([this.reader.parse(entry), this.delivery(entry)]);
    if (url.searchParams.has('partial')) return sendPage(res, 200, deliveryFragment(delivery));
    const raw = await this.reader.raw(entry);
    return sendPage(res, 200, messagePage({ entry, parsed, raw, token: this.token, delivery }));
  }

  private async listRoute(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const q = (params.get('q') ?? '').trim();
    const all = await this.reader.list();
    const view: ListView = {
      entries: q ? all.filter((e) => matches(e, q)) : all,
      total: all.length,
      q,
      token: this.token,
      firstIsLocal: this.firstIsLocal(),
      dirs: this.reader.dirs,
    };
    return sendPage(res, 200, params.has('partial') ? listFragment(view) : listPage(view));
  }

  private firstIsLocal(): boolean {
    const config = this.mailer.config;
    const first = config.defaultProvider ?? config.providers[0]?.name;
    return config.providers.find((p) => p.name === first)?.provider === 'local';
  }

  private async rawRoute(res: ServerResponse, entry: InboxEntry, download: boolean): Promise<void> {
    const raw = await this.reader.raw(entry);
    res.writeHead(200, {
      ...FILE_HEADERS,
      'content-type': download ? 'message/rfc822' : 'text/plain; charset=utf-8',
      'content-length': raw.length,
      ...(download ? { 'content-disposition': contentDisposition(`${entry.id}.eml`) } : {}),
    });
    res.end(raw);
  }

  private async htmlRoute(res: ServerResponse, entry: InboxEntry): Promise<void> {
    const parsed = await this.reader.parse(entry);
    if (!parsed.html) return sendPage(res, 404, notFoundPage(this.token, 'This message has no HTML part.'));
    // Links open in a new tab (the frame's sandbox allows that, not scripts); the HTTP charset wins over the mail's.
    const body = `<!doctype html><base target="_blank">${parsed.html}`;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': MAIL_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    res.end(body);
  }

  private async attachmentRoute(res: ServerResponse, entry: InboxEntry, n: number): Promise<void> {
    const attachment = (await this.reader.parse(entry)).attachments[n];
    if (!attachment) return sendPage(res, 404, notFoundPage(this.token, 'This message has no such attachment.'));
    const type = /^[\w.+-]+\/[\w.+-]+$/.test(attachment.contentType)
      ? attachment.contentType
      : 'application/octet-stream';
    res.writeHead(200, {
      ...FILE_HEADERS,
      'content-type': type,
      'content-length': attachment.content.length,
      'content-disposition': contentDisposition(attachment.filename ?? `attachment-${n + 1}`),
    });
    res.end(attachment.content);
  }

  /** The live stream: one `change` event on connecting, then one each time the outbox changes. */
  private eventsRoute(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 1000\nevent: change\ndata: ${this.version}\n\n`);
    this.clients.add(res);
    this.stopWatching ??= this.reader.watch(() => this.changed());
    // The response's close, not the request's: a request closes as soon as its (empty) body is read.
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) {
        this.stopWatching?.();
        this.stopWatching = undefined;
      }
    });
  }

  private changed(): void {
    this.version++;
    for (const client of this.clients) client.write(`event: change\ndata: ${this.version}\n\n`);
  }

  /** `POST /messages/ID/delete`, `DELETE /messages/ID`, `POST /messages/delete-all`, `DELETE /messages`. */
  private async mutate(req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
    const form = await readForm(req);
    const one = /^\/messages\/([^/]+)(\/delete)?$/.exec(path);
    const all = method === 'POST' ? path === '/messages/delete-all' : path === '/messages';
    const id = !all && one && (method === 'POST') === (one[2] !== undefined) ? one[1]! : undefined;
    if (!all && id === undefined) {
      return sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no route ${method} ${path}` } });
    }
    const refused = this.refusal(req, form?.get('token') ?? header(req, 'x-mailroute-token'));
    if (refused) return sendJson(res, 403, { ok: false, error: { code: 'FORBIDDEN', message: refused } });
    const deleted = all ? await this.reader.clear() : (await this.reader.delete(id!)) ? 1 : 0;
    this.changed();
    if (!all && deleted === 0) {
      return sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no captured message ${id}` } });
    }
    if (method === 'POST') {
      res.writeHead(303, { location: '/', 'cache-control': 'no-store' });
      res.end();
      return;
    }
    return sendJson(res, 200, { ok: true, deleted });
  }

  /**
   * Why a delete is refused, or undefined: it must come from the inbox's own page (the browser says so with
   * `Sec-Fetch-Site: same-origin` or an `Origin` that is this server) or carry the page's token, and nothing in it
   * may say it comes from another site. A form on another site cannot read the token, nor send these headers.
   */
  private refusal(req: IncomingMessage, token: string | undefined): string | undefined {
    const site = header(req, 'sec-fetch-site');
    const origin = header(req, 'origin');
    const own = `http://${header(req, 'host') ?? ''}`;
    if (site !== undefined && site !== 'same-origin') return `a request from another site (${site}) cannot delete`;
    if (origin !== undefined && origin !== own) return `a request from ${origin} cannot delete`;
    if (token !== undefined && sameSecret(token, this.token)) return undefined;
    if (site === 'same-origin' || origin === own) return undefined;
    return 'send it from the inbox page (same origin) or with the token in the page';
  }

  private hostAllowed(req: IncomingMessage): boolean {
    if (!this.loopback) return true;
    const host = (header(req, 'host') ?? '').toLowerCase();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
    return isLoopbackName(name);
  }

  /** The message's send result, correlation record and each recipient's place on the suppression list. */
  private async delivery(entry: InboxEntry): Promise<DeliveryView> {
    const send = entry.send ?? (entry.messageId ? this.recent.get(bareId(entry.messageId)) : undefined);
    const view: DeliveryView = { recipients: [], ...(send ? { send } : {}) };
    const events = this.mailer.events;
    try {
      const provider = typeof send?.provider === 'string' ? send.provider : 'local';
      const providerMessageId = typeof send?.providerMessageId === 'string' ? send.providerMessageId : entry.id;
      const byProvider = await events.store.get<SentRecord>(Correlation.providerKey(provider, providerMessageId));
      const byMessage =
        byProvider ??
        (entry.messageId ? await events.store.get<SentRecord>(Correlation.messageKey(entry.messageId)) : undefined);
      if (byMessage) view.correlation = byMessage.value;
    } catch (error) {
      view.correlationError = (error as Error).message;
    }
    const addresses = [...new Set([...entry.to, ...entry.cc, ...(entry.envelope?.to ?? [])].filter(Boolean))];
    view.recipients = await Promise.all(
      addresses.map(async (address) => {
        try {
          const suppression = await events.suppressions.get(address);
          return { address, ...(suppression ? { suppression } : {}) };
        } catch (error) {
          return { address, error: (error as Error).message };
        }
      }),
    );
    return view;
  }
}

const FILE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': FILE_CSP,
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

function sendPage(res: ServerResponse, status: number, page: Html): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // Not no-referrer: with it, a browser sends `Origin: null` on the page's own form posts (deletes).
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  });
  res.end(page.value);
}

function sendText(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

/** `attachment` with the name twice: plain ASCII for old clients, and RFC 5987 UTF-8 for the exact name. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase();
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    /^127(\.\d{1,3}){3}$/.test(name) ||
    name === '::1' ||
    name === '[::1]'
  );
}

function bareId(messageId: string): string {
  return messageId.trim().replace(/^<|>$/g, '');
}

/** The form a delete button posts (its token); undefined for any other body. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_FORM_BYTES) chunks.push(chunk);
  }
  if (size > MAX_FORM_BYTES) return undefined;
  const type = header(req, 'content-type') ?? '';
  return type.startsWith('application/x-www-form-urlencoded')
    ? new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
    : undefined;
}
