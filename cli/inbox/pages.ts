import type { AddressObject, ParsedMail } from 'mailparser';
import type { SentRecord } from '../../core/events/correlation.ts';
import type { SuppressionEntry } from '../../core/events/suppression.ts';
import { type Html, html } from './html.ts';
import type { InboxEntry } from './outbox-reader.ts';

/** The list page: the captured messages that match the search, newest first. */
export interface ListView {
  entries: InboxEntry[];
  /** How many messages there are in all, matching or not. */
  total: number;
  q: string;
  token: string;
  /** The first provider entry is the local capture inbox (the embedded default). */
  firstIsLocal: boolean;
  dirs: readonly string[];
}

/** Whether a recipient is on the suppression list (or the list could not be read). */
export interface RecipientStatus {
  address: string;
  suppression?: SuppressionEntry;
  error?: string;
}

/** What is known of a message's send and its delivery events. */
export interface DeliveryView {
  /** The send result as recorded (in the capture's JSON, or in this server's memory). */
  send?: Record<string, unknown>;
  /** The correlation record delivery events find the message by. */
  correlation?: SentRecord;
  correlationError?: string;
  recipients: RecipientStatus[];
}

export interface MessageView {
  entry: InboxEntry;
  parsed: ParsedMail;
  raw: Buffer;
  token: string;
  delivery: DeliveryView;
}

/** The raw source shown in the page at most; the whole message is one link away. */
const RAW_SHOWN = 512 * 1024;

/**
 * Matches a captured message against a search: every word must match. `to:WORD` matches a recipient (To, Cc or
 * the envelope, so Bcc too), `subject:WORD` the subject, `from:WORD` the sender; a bare word any of them.
 * Case-insensitive substrings.
 */
export function matches(entry: InboxEntry, q: string): boolean {
  const recipients = [...entry.to, ...entry.cc, ...(entry.envelope?.to ?? [])].join('\n').toLowerCase();
  const subject = (entry.subject ?? '').toLowerCase();
  const from = [entry.from, entry.fromName, entry.envelope?.from].join('\n').toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((term) => {
      const [, field, word = term] = /^(to|subject|from):(.*)$/.exec(term) ?? [];
      if (field === 'to') return recipients.includes(word);
      if (field === 'subject') return subject.includes(word);
      if (field === 'from') return from.includes(word);
      return recipients.includes(word) || subject.includes(word) || from.includes(word);
    });
}

export function listPage(view: ListView): Html {
  const live = `/?${new URLSearchParams({ ...(view.q ? { q: view.q } : {}), partial: '1' })}`;
  return layout(
    view.total ? `Inbox (${view.total})` : 'Inbox',
    view.token,
    html`<form class="search" method="get" action="/" role="search">
        <input type="search" name="q" value="${view.q}" placeholder="Search: words, to:ADDRESS, subject:WORDS, from:ADDRESS" aria-label="Search by recipient or subject">
        <button type="submit">Search</button>
        ${view.q ? html`<a href="/">Clear search</a>` : ''}
      </form>
      <div id="messages" data-live="${live}">${listFragment(view)}</div>
      <p class="dirs">Outbox: ${view.dirs.map((d, i) => html`${i ? ', ' : ''}<code>${d}</code>`)}</p>`,
  );
}

/** The list itself: what the page refreshes when the outbox changes. */
export function listFragment(view: ListView): Html {
  const count = view.q
    ? `${view.entries.length} of ${view.total} ${plural(view.total, 'message')} match`
    : `${view.total} ${plural(view.total, 'message')}`;
  const toolbar = html`<div class="toolbar"><span id="count">${count}</span>
    ${
      view.total
        ? html`<form method="post" action="/messages/delete-all" data-confirm="Delete all ${view.total} captured ${plural(view.total, 'message')}?">
        <input type="hidden" name="token" value="${view.token}"><button type="submit" class="danger">Delete all</button></form>`
        : ''
    }</div>`;
  if (view.total === 0) {
    const empty = view.firstIsLocal
      ? html`<p class="empty">No messages yet. Send one to <code>POST /v1/send</code> (the <code>curl</code> command that
          <code>npm start</code> printed) or over SMTP to the capture inbox: it appears here at once.</p>`
      : html`<p class="empty">No captured mail: the configured providers deliver for real.</p>`;
    return html`${toolbar}${empty}`;
  }
  if (view.entries.length === 0) {
    return html`${toolbar}<p class="empty">No message matches <q>${view.q}</q>.</p>`;
  }
  const rows = view.entries.map(
    (e) => html`<tr data-id="${e.id}">
      <td class="from">${e.fromName ? html`${e.fromName} <span class="addr">&lt;${e.from ?? ''}&gt;</span>` : (e.from ?? e.envelope?.from ?? '')}</td>
      <td class="to">${[...e.to, ...e.cc].join(', ') || (e.envelope?.to ?? []).join(', ')}</td>
      <td class="subject"><a href="/messages/${e.id}">${e.subject || '(no subject)'}</a>${
        e.attachments.length
          ? html` <span class="clip">(${e.attachments.length} ${plural(e.attachments.length, 'attachment')})</span>`
          : ''
      }</td>
      <td class="when"><time datetime="${e.receivedAt}">${when(e.receivedAt)}</time></td>
      <td class="size">${bytes(e.size)}</td>
    </tr>`,
  );
  return html`${toolbar}<table class="messages">
    <thead><tr><th>From</th><th>To</th><th>Subject</th><th>Received</th><th>Size</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

export function messagePage(view: MessageView): Html {
  const { entry, parsed, raw } = view;
  const id = entry.id;
  const subject = parsed.subject ?? entry.subject ?? '';
  const attachments = parsed.attachments.map(
    (a, n) => html`<li>
      <a href="/messages/${id}/attachments/${n}" download="${a.filename ?? `attachment-${n + 1}`}">${a.filename ?? `attachment-${n + 1}`}</a>
      <span class="meta">${a.contentType}, ${bytes(a.size)}${a.cid ? html`, inline <code>cid:${a.cid}</code>` : ''}</span>
    </li>`,
  );
  const rawText = raw.subarray(0, RAW_SHOWN).toString('utf8');
  return layout(
    subject || '(no subject)',
    view.token,
    html`<p class="back"><a href="/">← Inbox</a></p>
      <h1>${subject || '(no subject)'}</h1>
      <dl class="summary">
        <dt>From</dt><dd>${addresses(parsed.from)}</dd>
        <dt>To</dt><dd>${addresses(parsed.to)}</dd>
        ${parsed.cc ? html`<dt>Cc</dt><dd>${addresses(parsed.cc)}</dd>` : ''}
        ${parsed.replyTo ? html`<dt>Reply-To</dt><dd>${addresses(parsed.replyTo)}</dd>` : ''}
        <dt>Envelope</dt><dd>${entry.envelope?.from || '<>'} → ${(entry.envelope?.to ?? []).join(', ')}</dd>
        ${parsed.date ? html`<dt>Date</dt><dd>${parsed.date.toISOString()}</dd>` : ''}
        <dt>Received</dt><dd><time datetime="${entry.receivedAt}">${when(entry.receivedAt)}</time> over ${entry.via === 'smtp' ? 'SMTP' : 'the API (written directly)'}</dd>
        <dt>Size</dt><dd>${bytes(entry.size)}</dd>
        ${parsed.messageId ? html`<dt>Message-ID</dt><dd><code>${parsed.messageId}</code></dd>` : ''}
        <dt>Capture</dt><dd><code>${id}</code></dd>
      </dl>
      <div class="actions">
        <a href="/messages/${id}/raw">View source</a>
        <a href="/messages/${id}/raw?download=1" download="${id}.eml">Download .eml</a>
        <form method="post" action="/messages/${id}/delete" data-confirm="Delete this message?">
          <input type="hidden" name="token" value="${view.token}"><button type="submit" class="danger">Delete</button>
        </form>
      </div>
      <nav class="tabs"><a href="#html">HTML</a><a href="#text">Text</a><a href="#headers">Headers</a>
        <a href="#attachments">Attachments (${parsed.attachments.length})</a><a href="#delivery">Route and events</a><a href="#raw">Raw</a></nav>
      <section id="html"><h2>HTML</h2>${
        parsed.html
          ? html`<div class="frame"><iframe src="/messages/${id}/html" title="HTML body" sandbox="allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer"></iframe></div>
            <p class="note">Shown sandboxed (no scripts) with remote content blocked; inline <code>cid:</code> images come from the attachments.</p>`
          : html`<p class="empty">No HTML part.</p>`
      }</section>
      <section id="text"><h2>Text</h2>${
        parsed.text ? html`<pre class="text">${parsed.text}</pre>` : html`<p class="empty">No text part.</p>`
      }</section>
      <section id="headers"><h2>Headers</h2><table class="headers"><tbody>${parsed.headerLines.map((h) => {
        const colon = h.line.indexOf(':');
        return html`<tr><th>${colon > 0 ? h.line.slice(0, colon) : h.key}</th><td>${colon > 0 ? h.line.slice(colon + 1).trim() : h.line}</td></tr>`;
      })}</tbody></table></section>
      <section id="attachments"><h2>Attachments</h2>${
        attachments.length ? html`<ul class="attachments">${attachments}</ul>` : html`<p class="empty">None.</p>`
      }</section>
      <section id="delivery" data-live="/messages/${id}?partial=1">${deliveryFragment(view.delivery)}</section>
      <section id="raw"><h2>Raw source</h2>
        <details><summary>${bytes(raw.length)}${raw.length > RAW_SHOWN ? `, the first ${bytes(RAW_SHOWN)} shown` : ''}</summary><pre class="raw">${rawText}</pre></details>
      </section>`,
  );
}

/** The route, every attempt and the delivery events: what the page refreshes when a send result or event lands. */
export function deliveryFragment(view: DeliveryView): Html {
  return html`<h2>Route and attempts</h2>${sendSection(view.send)}<h2>Delivery events</h2>${eventsSection(view)}`;
}

function sendSection(send: Record<string, unknown> | undefined): Html {
  if (!send) {
    return html`<p class="empty">No send result recorded: the message was captured by another process (a
      <code>mailroute send</code>, your application, an SMTP client) rather than through this server's
      <code>POST /v1/send</code>.</p>`;
  }
  const attempts = list(send.attempts);
  const failedOver = attempts.some((a) => a.outcome !== 'sent');
  const timings = record(send.timings);
  const rejected = list(send.rejected);
  return html`<dl class="summary">
      <dt>Route</dt><dd>${text(send.route) || '(none: sent to one entry)'}</dd>
      <dt>Sent by</dt><dd><b>${text(send.name)}</b> (${text(send.provider)}, ${text(send.mode)})${
        send.providerMessageId ? html`, provider message id <code>${text(send.providerMessageId)}</code>` : ''
      }</dd>
      <dt>Failover</dt><dd>${
        failedOver
          ? `yes: ${attempts.length} ${plural(attempts.length, 'attempt')}, ${attempts.filter((a) => a.outcome !== 'sent').length} failed or skipped`
          : 'no: the first entry took it'
      }</dd>
      <dt>Accepted</dt><dd>${list(send.accepted).length ? strings(send.accepted).join(', ') : '(none)'}</dd>
      ${rejected.length ? html`<dt>Rejected</dt><dd>${rejected.map((r) => `${text(r.address)} (${text(r.reason)})`).join(', ')}</dd>` : ''}
      ${send.duplicate ? html`<dt>Duplicate</dt><dd>yes: an earlier send with the same idempotency key</dd>` : ''}
      ${send.settled ? html`<dt>Settled</dt><dd>yes: an earlier attempt was found delivered</dd>` : ''}
      ${
        timings
          ? html`<dt>Timings</dt><dd>validate ${text(timings.validateMs)} ms, compose ${text(timings.composeMs)} ms, send ${text(
              timings.sendMs,
            )} ms, total ${text(timings.totalMs)} ms</dd>`
          : ''
      }
      ${list(send.warnings).length ? html`<dt>Warnings</dt><dd>${list(send.warnings).map((w) => html`<div>${text(w.code)}: ${text(w.message)}</div>`)}</dd>` : ''}
    </dl>
    <table class="attempts"><thead><tr><th>#</th><th>Entry</th><th>Provider</th><th>Mode</th><th>Outcome</th><th>Latency</th><th>Why</th></tr></thead>
    <tbody>${attempts.map(
      (
        a,
        i,
      ) => html`<tr class="${text(a.outcome)}"><td>${i + 1}</td><td>${text(a.name)}</td><td>${text(a.provider)}</td><td>${text(a.mode)}</td>
        <td>${text(a.outcome)}</td><td>${a.latencyMs === undefined ? '' : `${text(a.latencyMs)} ms`}</td>
        <td>${[text(a.errorCode), text(a.reason) || text(record(a.error)?.message)].filter(Boolean).join(': ')}</td></tr>`,
    )}</tbody></table>`;
}

function eventsSection(view: DeliveryView): Html {
  const c = view.correlation;
  const correlation = c
    ? html`<dl class="summary">
        <dt>Correlation</dt><dd>recorded ${when(c.sentAt)}: events about Message-ID <code>${c.messageId}</code>${
          c.providerMessageId ? html` or ${c.provider} id <code>${c.providerMessageId}</code>` : ''
        } find this send (entry <b>${c.name}</b>${c.route ? `, route ${c.route}` : ''})</dd>
        ${c.idempotencyKey ? html`<dt>Idempotency key</dt><dd><code>${c.idempotencyKey}</code></dd>` : ''}
        ${c.metadata ? html`<dt>Metadata</dt><dd><code>${JSON.stringify(c.metadata)}</code></dd>` : ''}
      </dl>`
    : view.correlationError
      ? html`<p class="error">The correlation record could not be read: ${view.correlationError}</p>`
      : html`<p class="empty">No correlation record (the send was not made through this state store, or
          <code>events.correlate</code> is off).</p>`;
  const rows = view.recipients.map((r) => {
    const s = r.suppression;
    const status = r.error
      ? html`<span class="error">unknown: ${r.error}</span>`
      : s
        ? html`<b class="suppressed">suppressed</b>: ${s.reason}${s.provider ? ` on ${s.provider}` : ''} since ${when(s.since)}${
            s.detail ? html` (<q>${s.detail}</q>)` : ''
          }${
            s.providerMessageId && s.providerMessageId === c?.providerMessageId
              ? html` <b>by an event about this message</b>`
              : ''
          }`
        : 'not suppressed';
    return html`<tr><td>${r.address}</td><td>${status}</td></tr>`;
  });
  return html`${correlation}
    <table class="recipients"><thead><tr><th>Recipient</th><th>Suppression list</th></tr></thead><tbody>${rows}</tbody></table>
    <p class="note">Events come in on <code>POST /v1/events/{ses|acs|oci|dsn}</code> or <code>mailroute events ingest</code>;
      a hard bounce, a complaint or an unsubscribe puts the recipient on the suppression list every provider shares.</p>`;
}

export function notFoundPage(token: string, what: string): Html {
  return layout('Not found', token, html`<p class="back"><a href="/">← Inbox</a></p><h1>Not found</h1><p>${what}</p>`);
}

function layout(title: string, token: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="mailroute-token" content="${token}">
<title>${title} · mailroute</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/inbox.css">
<script src="/inbox.js" defer></script>
</head>
<body>
<header><a class="brand" href="/">mailroute</a> <span>local inbox</span></header>
<main>${body}</main>
</body>
</html>
`;
}

function addresses(value: AddressObject | AddressObject[] | undefined): Html {
  const all = (Array.isArray(value) ? value : value ? [value] : []).flatMap((a) => a.value);
  return html`${all.map(
    (a, i) =>
      html`${i ? ', ' : ''}${a.name ? html`${a.name} <span class="addr">&lt;${a.address ?? ''}&gt;</span>` : (a.address ?? '')}${
        a.group ? html` (${a.group.map((g) => g.address).join(', ')})` : ''
      }`,
  )}`;
}

function when(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.map((v) => record(v) ?? { value: v }) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(text) : [];
}
