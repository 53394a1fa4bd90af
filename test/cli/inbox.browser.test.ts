import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateSync } from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The web inbox in a real browser (Debian's chromium, driven by playwright-core) on the real `mailroute serve`,
// with messages sent by the real curl binary: the acceptance test of issue 16's inbox.

const INSTALL = 'apt-get update && apt-get install -y chromium';
// CHROMIUM_PATH names another browser binary (and, naming none that exists, shows what a machine without one does).
const executablePath = (
  process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser']
).find((p) => existsSync(p));
const curlFound = spawnSync('curl', ['--version']).status === 0;
const missing = !executablePath
  ? `chromium not found: install it with \`${INSTALL}\` (npm test does so as root, through scripts/ensure-test-tools.sh)`
  : !curlFound
    ? 'curl not found: install it with `apt-get install -y curl`'
    : undefined;
if (missing) process.stderr.write(`inbox browser test skipped: ${missing}\n`);

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), 'mr-inbox-browser-'));
const outbox = join(home, 'outbox');

let serve: ChildProcess | undefined;
let printed = '';
let url = '';
let browser: Browser | undefined;
let page: Page;
/** Every response the browser got, frames included, by URL; and every request that failed, with why. */
const responded: string[] = [];
const failed = new Map<string, string>();
/** Requests that reached a "remote" server of our own: what a tracking pixel on another origin would be. */
let tracker: Server | undefined;
let trackerHits = 0;
let trackerUrl = '';

const binary = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 37 + 11) % 256));
const logo = png(40, 30);

/** The rich message: remote images, an inline `cid:` image, a script, and a binary attachment. */
const rich = () => ({
  from: 'Shop <shop@example.com>',
  to: ['Carol <carol@example.org>'],
  subject: 'Order 42 <script>window.__pwned = 1</script> & more',
  text: 'Order 42 shipped.',
  html:
    '<h1 id="title">Order 42 shipped</h1><p id="js">static</p>' +
    `<img id="remote" src="https://example.com/x.png"><img id="tracker" src="${trackerUrl}/pixel.png">` +
    '<img id="logo" src="cid:logo@shop">' +
    '<script>document.getElementById("js").textContent = "script ran"</script>',
  attachments: [
    { filename: 'invoice.bin', contentType: 'application/octet-stream', content: binary.toString('base64') },
    { filename: 'logo.png', contentType: 'image/png', content: logo.toString('base64'), contentId: 'logo@shop' },
  ],
});

beforeAll(async () => {
  if (missing) return;
  tracker = createServer((_req, res) => {
    trackerHits++;
    res.writeHead(200, { 'content-type': 'image/png' }).end(logo);
  });
  await new Promise<void>((resolve) => tracker!.listen(0, '127.0.0.1', resolve));
  // Another origin than the inbox's (localhost, not 127.0.0.1), as a remote server would be.
  trackerUrl = `http://localhost:${(tracker.address() as AddressInfo).port}`;

  // The real server, as `npm start` runs it, in a directory of its own: nothing in the repository is touched.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    MAILROUTE_OUTBOX: outbox,
    MAILROUTE_STATE_FILE: join(home, 'state.json'),
  };
  delete env.MAILROUTE_CONFIG;
  delete env.MAILROUTE_CONFIG_FILE;
  serve = spawn(process.execPath, [join(root, 'bin/mailroute.js'), 'serve'], { cwd: home, env, detached: true });
  serve.stderr?.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    serve!.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      if (/^curl .*$/m.test(printed)) resolve();
    });
    serve!.once('exit', (code) => reject(new Error(`mailroute serve exited with ${code}:\n${printed}`)));
  });
  url = /http:\/\/127\.0\.0\.1:\d+/.exec(printed)![0];

  browser = await chromium.launch({ executablePath });
  page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  page.on('response', (response) => {
    responded.push(response.url());
  });
  page.on('requestfailed', (request) => {
    failed.set(request.url(), request.failure()?.errorText ?? '');
  });
});

afterAll(async () => {
  await browser?.close();
  if (serve?.exitCode === null) {
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    process.kill(-serve.pid!, 'SIGTERM');
    await exited;
  }
  await new Promise((resolve) => (tracker ? tracker.close(resolve) : resolve(undefined)));
  await rm(home, { recursive: true, force: true });
});

/** The README's example: the curl command `npm start` prints (`curlExample` in cli/main.ts), run as printed. */
async function sendReadmeExample(): Promise<void> {
  const command = /^curl .*$/m.exec(printed)![0];
  const { stdout } = await run('sh', ['-c', command]);
  expect(JSON.parse(stdout).ok).toBe(true);
}

async function curlSend(message: unknown): Promise<void> {
  const { stdout } = await run('curl', [
    '-sS',
    '-X',
    'POST',
    `${url}/v1/send`,
    '-H',
    'content-type: application/json',
    '--data-binary',
    JSON.stringify(message),
  ]);
  expect(JSON.parse(stdout).ok).toBe(true);
}

const captured = () => readdirSync(outbox).filter((f) => /\.(eml|json)$/.test(f));
const subjects = () => page.locator('#messages td.subject a').allTextContents();

describe(`the web inbox in a real browser (chromium; without it, skipped: install with \`${INSTALL}\`)`, () => {
  it.skipIf(missing)('shows a message sent by curl as soon as it is captured, without a reload', async () => {
    let loads = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) loads++;
    });
    await page.goto(`${url}/`);
    await expect.poll(() => page.locator('#messages').textContent()).toContain('No messages yet.');
    await page.evaluate(() => {
      (window as unknown as { marker: string }).marker = 'the same page';
    });

    await sendReadmeExample();
    await page.getByRole('link', { name: 'Hello from mailroute' }).waitFor();
    await curlSend(rich());
    await page.getByRole('link', { name: rich().subject }).waitFor();

    expect(await subjects()).toEqual([rich().subject, 'Hello from mailroute']);
    expect(await page.locator('#count').textContent()).toBe('2 messages');
    expect(await page.locator('#messages td.from').first().textContent()).toBe('Shop <shop@example.com>');
    // Live: the page was never reloaded, and the subject's <script> is text.
    expect(loads).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('the same page');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it.skipIf(missing)(
    'opens a message: its HTML sandboxed with nothing remote loaded, its inline image, and its route',
    async () => {
      await page.getByRole('link', { name: rich().subject }).click();
      await page.waitForURL(/\/messages\/[^/]+$/);
      expect(await page.locator('h1').textContent()).toBe(rich().subject);

      const body = page.frameLocator('iframe[title="HTML body"]');
      expect(await body.locator('#title').textContent()).toBe('Order 42 shipped');
      // No script ran in the message's HTML.
      expect(await body.locator('#js').textContent()).toBe('static');
      // The inline image came from its attachment: it has its own size (a broken image would not).
      await expect
        .poll(async () =>
          body
            .locator('#logo')
            .boundingBox()
            .then((b) => b && [b.width, b.height]),
        )
        .toEqual([40, 30]);
      // Remote content was not loaded: the browser tried, and the CSP blocked it before anything went out (the
      // "remote" server on another origin counts no hit); nothing but the inbox itself answered the browser.
      await expect.poll(() => failed.get('https://example.com/x.png')).toBe('csp');
      await expect.poll(() => failed.get(`${trackerUrl}/pixel.png`)).toBe('csp');
      expect(trackerHits).toBe(0);
      expect(responded.filter((u) => !u.startsWith(`${url}/`) && !u.startsWith('data:'))).toEqual([]);

      expect(await page.locator('#text pre').textContent()).toContain('Order 42 shipped.');
      expect(await page.locator('#headers').textContent()).toContain('Shop <shop@example.com>');
      // The route and the attempt, from the send result `serve` recorded.
      const delivery = await page.locator('#delivery').textContent();
      expect(delivery).toContain('local (local, smtp), provider message id');
      expect(delivery).toContain('no: the first entry took it');
      expect(delivery).toContain('carol@example.org');
      expect(delivery).toContain('not suppressed');
      expect(await page.locator('#delivery table.attempts tbody tr').count()).toBe(1);
    },
  );

  it.skipIf(missing)('downloads an attachment with its bytes, name and type', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'invoice.bin' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('invoice.bin');
    expect(readFileSync(await download.path())).toEqual(binary);
    const [image] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'logo.png' }).click(),
    ]);
    expect(readFileSync(await image.path())).toEqual(logo);
    const response = await page.request.get(`${url}/messages/${page.url().split('/').pop()}/attachments/1`);
    expect(response.headers()['content-type']).toMatch(/^(application\/octet-stream|image\/png)$/);
    expect(response.headers()['content-disposition']).toMatch(/^attachment; /);
  });

  it.skipIf(missing)('searches by recipient and by subject', async () => {
    await page.goto(`${url}/`);
    await page.fill('input[name="q"]', 'to:carol@');
    await page.press('input[name="q"]', 'Enter');
    await page.waitForURL(/q=to%3Acarol%40/);
    expect(await subjects()).toEqual([rich().subject]);
    expect(await page.locator('#count').textContent()).toBe('1 of 2 messages match');

    await page.fill('input[name="q"]', 'subject:hello');
    await page.press('input[name="q"]', 'Enter');
    await page.waitForURL(/q=subject%3Ahello/);
    expect(await subjects()).toEqual(['Hello from mailroute']);

    await page.getByRole('link', { name: 'Clear search' }).click();
    await page.waitForURL(`${url}/`);
    expect(await subjects()).toHaveLength(2);
  });

  it.skipIf(missing)('deletes one message, then all, after asking', async () => {
    await page.getByRole('link', { name: 'Hello from mailroute' }).click();
    await page.waitForURL(/\/messages\/[^/]+$/);
    const id = page.url().split('/').pop()!;
    // Declined: nothing is deleted.
    page.once('dialog', (dialog) => dialog.dismiss());
    await page.getByRole('button', { name: 'Delete' }).click();
    expect(existsSync(join(outbox, `${id}.eml`))).toBe(true);

    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(`${url}/`);
    expect(await subjects()).toEqual([rich().subject]);
    expect(existsSync(join(outbox, `${id}.eml`))).toBe(false);
    expect(captured()).toHaveLength(2);

    page.once('dialog', (dialog) => {
      expect(dialog.message()).toBe('Delete all 1 captured message?');
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Delete all' }).click();
    await page.locator('#messages', { hasText: 'No messages yet.' }).waitFor();
    expect(captured()).toEqual([]);
  });
});

/** A solid PNG of the size given. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(4 + typed.length + 4);
    out.writeUInt32BE(data.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), 4 + typed.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolor
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x5a)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
