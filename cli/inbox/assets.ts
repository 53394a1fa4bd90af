/**
 * The inbox page's script: live updates and confirmations. Served as a file (`/inbox.js`) so that the pages' CSP
 * allows no inline script at all. Each element with `data-live="URL"` is refreshed from that URL (a fragment the
 * server renders, escaped like the page) whenever the server's `/events` stream says the outbox changed; the stream
 * says so once on connecting too, so a message stored between the page load and the connection is not missed.
 */
export const INBOX_JS = `'use strict';
(() => {
  const live = Array.from(document.querySelectorAll('[data-live]'));
  const shown = new WeakMap();
  let running = false;
  let again = false;
  async function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      for (const element of live) {
        const response = await fetch(element.dataset.live, { cache: 'no-store', headers: { accept: 'text/html' } });
        let text;
        if (response.ok) text = await response.text();
        else if (response.status === 404) text = '<p class="gone">This message was deleted. <a href="/">Back to the inbox</a></p>';
        else continue;
        if (shown.get(element) !== text) {
          shown.set(element, text);
          element.innerHTML = text;
        }
      }
      document.documentElement.dataset.refreshed = String(Date.now());
    } catch {
      // The server is restarting: the event stream reconnects and says so.
    } finally {
      running = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }
  if (live.length && 'EventSource' in window) {
    const events = new EventSource('/events');
    events.addEventListener('change', refresh);
    events.addEventListener('open', () => {
      document.documentElement.dataset.live = 'connected';
    });
  }
  document.addEventListener('submit', (event) => {
    const form = event.target;
    const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
`;

export const INBOX_CSS = `:root { color-scheme: light dark; --line: #8884; --muted: #888; --accent: #2563eb; --danger: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { padding: 10px 20px; border-bottom: 1px solid var(--line); display: flex; gap: 10px; align-items: baseline; }
header .brand { font-weight: 700; font-size: 16px; text-decoration: none; color: inherit; }
header span { color: var(--muted); }
main { padding: 16px 20px; max-width: 1200px; }
a { color: var(--accent); }
h1 { font-size: 20px; margin: 8px 0 12px; word-break: break-word; }
h2 { font-size: 15px; margin: 24px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; padding: 10px; border: 1px solid var(--line); border-radius: 4px; overflow: auto; max-height: 70vh; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
table.messages td.subject a { font-weight: 600; text-decoration: none; }
table.messages td.when, table.messages td.size { white-space: nowrap; color: var(--muted); }
table.headers th { white-space: nowrap; width: 1%; }
table.headers td { word-break: break-all; font-family: ui-monospace, monospace; font-size: 12.5px; }
.addr, .meta, .note, .dirs, #count { color: var(--muted); }
.search { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; }
.search input { flex: 1; max-width: 520px; padding: 6px 8px; font: inherit; }
.toolbar { display: flex; justify-content: space-between; align-items: center; margin-bottom: 8px; min-height: 30px; }
form { margin: 0; }
button { font: inherit; padding: 4px 12px; cursor: pointer; }
button.danger { color: var(--danger); }
.actions { display: flex; gap: 14px; align-items: center; margin: 8px 0; }
.tabs { display: flex; gap: 14px; margin: 12px 0; flex-wrap: wrap; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; word-break: break-word; }
.frame { resize: vertical; overflow: hidden; height: 60vh; min-height: 160px; border: 1px solid var(--line); border-radius: 4px; }
.frame iframe { width: 100%; height: 100%; border: 0; background: #fff; }
.empty, .gone { color: var(--muted); font-style: italic; }
.error, tr.failed td { color: var(--danger); }
tr.skipped td { color: var(--muted); }
.suppressed { color: var(--danger); }
ul.attachments { padding-left: 18px; }
`;
