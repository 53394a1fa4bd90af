import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EVENTS_ARGS, SUPPRESSIONS_ARGS } from '../../cli/events.ts';
import { htmlText, main } from '../../cli/main.ts';
import { storeInOutbox } from '../../providers/local/outbox.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/mailroute.js');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

let lines: string[];
let dir: string;

/** Runs one CLI command in this process; its output lines are in `lines`. */
async function cli(...args: string[]): Promise<number> {
  lines = [];
  return main(args, (l) => lines.push(l));
}
const text = () => lines.join('\n');
const json = () => JSON.parse(text());

/** Runs the real executable; exit code, standard output and error. */
async function mailroute(args: string[], env: Record<string, string> = {}, node = process.execPath) {
  try {
    const { stdout, stderr } = await run(node, [bin, ...args], { env: { ...process.env, ...env }, cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mr-help-'));
  // No configuration of the developer's may leak in; the outbox is this test's own.
  vi.stubEnv('MAILROUTE_CONFIG', '');
  vi.stubEnv('MAILROUTE_CONFIG_FILE', '');
  vi.stubEnv('MAILROUTE_OUTBOX', join(dir, 'outbox'));
  vi.stubEnv('MAILROUTE_STATE_FILE', join(dir, 'state.json'));
});
afterEach(() => {
  vi.unstubAllEnvs();
});

/** Every command and the options its help must describe. */
const OPTIONS: Record<string, string[]> = {
  send: [
    'message',
    'from',
    'to',
    'cc',
    'bcc',
    'reply-to',
    'subject',
    'text',
    'html',
    'idempotency-key',
    'provider',
    'route',
    'config',
  ],
  config: ['config', 'connect'],
  explain: ['message', 'route', 'config'],
  outbox: ['dir', 'json', 'raw', 'config'],
  emulators: ['dir'],
  serve: ['port', 'host', 'config'],
  // What cli/events.ts parses: the help cannot forget one of them.
  events: Object.keys(EVENTS_ARGS),
  suppressions: Object.keys(SUPPRESSIONS_ARGS),
};

describe('mailroute --help', () => {
  it.each(Object.entries(OPTIONS))('%s --help exits 0 and describes every option', async (command, options) => {
    expect(await cli(command, '--help')).toBe(0);
    const help = text();
    expect(help).toContain(`mailroute ${command}`);
    // Each option on a line of its own, with its value's name and what it does.
    for (const option of options)
      expect(help).toMatch(new RegExp(`^ {2}(?:-\\w, | {4})--${option}(?: \\S+)? {2,}\\w`, 'm'));
    // The same text for -h, `help COMMAND` and after a subcommand.
    expect(await cli(command, '-h')).toBe(0);
    expect(text()).toBe(help);
    expect(await cli('help', command)).toBe(0);
    expect(text()).toBe(help);
  });

  it('works after a subcommand and among other options', async () => {
    for (const args of [
      ['config', 'check', '--help'],
      ['events', 'ingest', '--source', 'ses', '-h'],
      ['suppressions', 'add', '--help'],
      ['outbox', 'show', '--help'],
      ['send', '--to', 'a@example.com', '--help'],
    ]) {
      expect(await cli(...args)).toBe(0);
      expect(text()).toContain(`mailroute ${args[0]}:`);
    }
  });

  it.skipIf(!existsSync(join(root, 'cli/dlq.ts')))('dlq --help prints the dead-letter help', async () => {
    const { DLQ_HELP } = await import('../../cli/dlq.ts');
    expect(await cli('dlq', '--help')).toBe(0);
    expect(text()).toBe(DLQ_HELP);
    expect(await cli('help', 'dlq')).toBe(0);
    expect(text()).toBe(DLQ_HELP);
  });

  it('lists every command with what it does', async () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      expect(await cli(...args)).toBe(0);
      for (const command of [...Object.keys(OPTIONS), 'dlq', 'help'])
        expect(text()).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
  });

  it('--version and -v print the version of package.json', async () => {
    expect(await cli('--version')).toBe(0);
    expect(text()).toBe(version);
    expect(await cli('-v')).toBe(0);
    expect(text()).toBe(version);
  });

  it('the executable answers --help and --version, exit 0', async () => {
    const help = await mailroute(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: mailroute COMMAND');
    const send = await mailroute(['send', '--help']);
    expect(send.code).toBe(0);
    expect(send.stdout).toContain('--idempotency-key KEY');
    const v = await mailroute(['--version']);
    expect(v).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('loads only node built-ins and small modules before a command runs', () => {
    // What makes `--help` fast: the package, providers, stores and SDKs are imported inside the commands.
    const source = readFileSync(join(root, 'cli/main.ts'), 'utf8');
    const imports = [...source.matchAll(/^import (?!type )[^;]*? from '([^']+)';/gm)].map((m) => m[1]);
    expect(imports.filter((i) => !i!.startsWith('node:'))).toEqual([
      '../core/errors.ts',
      '../core/util/did-you-mean.ts',
    ]);
  });
});

describe('wrong usage: a sentence and exit 2', () => {
  it('names an unknown command, with the one meant and the list', async () => {
    expect(await cli('snd')).toBe(2);
    const error = json().error;
    expect(error).toMatchObject({ code: 'USAGE', name: 'UsageError' });
    expect(error.message).toMatch(/^unknown command "snd" \(did you mean "send"\?\)\. Commands: send, config, /);
    expect(await cli('--verison')).toBe(2);
    expect(json().error.message).toMatch(/^unknown option --verison \(did you mean --version\?\)/);
    expect(await cli('help', 'outbx')).toBe(2);
    expect(json().error.message).toMatch(/^unknown command "outbx" \(did you mean "outbox"\?\)/);
  });

  it('names an unknown option, with the one meant', async () => {
    expect(await cli('send', '--too', 'a@example.com')).toBe(2);
    expect(json()).toEqual({
      ok: false,
      error: {
        name: 'UsageError',
        code: 'USAGE',
        message: 'unknown option --too for send (did you mean --to?)',
        option: '--too',
      },
    });
    expect(await cli('config', 'check', '--conect')).toBe(2);
    expect(json().error.message).toBe('unknown option --conect for config check (did you mean --connect?)');
    // Parsed by cli/events.ts, named the same way.
    expect(await cli('events', 'ingest', '--sorce', 'ses', 'x.json')).toBe(2);
    expect(json().error.message).toBe('unknown option --sorce for events ingest (did you mean --source?)');
    expect(await cli('outbox', '--xyz')).toBe(2);
    expect(json().error.message).toBe('unknown option --xyz for outbox (`mailroute outbox --help` lists them)');
  });

  it('names an unknown subcommand, a missing value, an extra argument', async () => {
    expect(await cli('config', 'chek')).toBe(2);
    expect(json().error.message).toBe('unknown config command "chek" (did you mean "check"?); one of: check');
    expect(await cli('config')).toBe(2);
    expect(json().error.message).toBe('config needs one of: check');
    expect(await cli('events', 'stat')).toBe(2);
    expect(json().error.message).toMatch(/did you mean "stats"/);
    expect(await cli('outbox', 'sho')).toBe(2);
    expect(json().error.message).toMatch(/^unknown outbox command "sho" \(did you mean "show"\?\)/);
    expect(await cli('send', '--to')).toBe(2);
    expect(json().error.message).toBe('option --to for send needs a value');
    expect(await cli('config', 'check', '--connect=yes')).toBe(2);
    expect(json().error.message).toBe('option --connect for config check takes no value');
    expect(await cli('send', 'extra')).toBe(2);
    expect(json().error.message).toBe('send takes no argument "extra"');
  });
});

describe('ordinary mistakes: a typed error with a sentence, never INTERNAL', () => {
  const expectError = (code: string, message: string | RegExp) => {
    const error = json().error;
    expect(error.code).not.toBe('INTERNAL');
    expect(error.code).toBe(code);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  };

  it('a --message file that is missing, a directory, not JSON, or not an object', async () => {
    process.chdir(dir);
    try {
      expect(await cli('send', '--message', 'm.json')).toBe(2);
      expectError('USAGE', '--message: no such file m.json');
      mkdirSync(join(dir, 'folder'));
      expect(await cli('send', '--message', 'folder')).toBe(2);
      expectError('USAGE', '--message: folder is a directory, not a file');
      writeFileSync(join(dir, 'bad.json'), '{"from": ');
      expect(await cli('send', '--message', 'bad.json')).toBe(1);
      expectError('INVALID_JSON', /^bad\.json is not valid JSON: /);
      expect(json().error.issues).toEqual([{ path: '', message: json().error.message }]);
      writeFileSync(join(dir, 'list.json'), '[1, 2]');
      expect(await cli('send', '--message', 'list.json')).toBe(1);
      expectError('INVALID_JSON', 'list.json holds an array, not a message object');
      expect(await cli('explain', '--message', 'bad.json')).toBe(1);
      expectError('INVALID_JSON', /^bad\.json is not valid JSON/);
      expect(await cli('explain', '--message', 'nope.json')).toBe(2);
      expectError('USAGE', '--message: no such file nope.json');
      expect(await cli('explain')).toBe(2);
      expectError('USAGE', 'explain needs --message FILE.json (or - for standard input)');
    } finally {
      process.chdir(root);
    }
  });

  it('a port that is not a whole number 0-65535, from --port or PORT', async () => {
    expect(await cli('serve', '--port', 'abc')).toBe(2);
    expectError('USAGE', 'port must be a whole number 0-65535, not "abc"');
    expect(await cli('serve', '--port', '70000')).toBe(2);
    expectError('USAGE', 'port must be a whole number 0-65535, not "70000"');
    expect(await cli('serve', '--port=-1')).toBe(2);
    expectError('USAGE', 'port must be a whole number 0-65535, not "-1"');
    expect(await cli('serve', '--port', '-1')).toBe(2);
    expectError('USAGE', 'option --port for serve needs a value (a value that starts with a dash: --port=-VALUE)');
    vi.stubEnv('PORT', 'abc');
    expect(await cli('serve')).toBe(2);
    expectError('USAGE', 'port must be a whole number 0-65535, not "abc" (from the environment variable PORT)');
  });

  it('PORT=abc from the executable: the sentence, no server started', async () => {
    const { code, stdout } = await mailroute(['serve'], { PORT: 'abc' });
    expect(code).toBe(2);
    expect(JSON.parse(stdout).error).toMatchObject({
      code: 'USAGE',
      message: 'port must be a whole number 0-65535, not "abc" (from the environment variable PORT)',
    });
  });

  it('a configuration file that is missing or a directory', async () => {
    const missing = join(dir, 'missing.yaml');
    expect(await cli('config', 'check', '--config', missing)).toBe(2);
    expectError('USAGE', `--config: no such file ${missing}`);
    expect(await cli('send', '--config', dir, '--to', 'a@example.com')).toBe(2);
    expectError('USAGE', `--config: ${dir} is a directory, not a file`);
    vi.stubEnv('MAILROUTE_CONFIG_FILE', dir);
    expect(await cli('events', 'stats')).toBe(2);
    expectError('USAGE', `MAILROUTE_CONFIG_FILE: ${dir} is a directory, not a file`);
  });

  it('a file argument of a command that reads it itself', async () => {
    const missing = join(dir, 'events.json');
    expect(await cli('events', 'ingest', '--source', 'ses', missing)).toBe(2);
    expectError('USAGE', `events ingest: no such file ${missing}`);
    expect(await cli('events', 'ingest', missing, '--raw', '--source', 'ses')).toBe(2);
    expectError('USAGE', `events ingest: no such file ${missing}`);
    expect(await cli('suppressions', 'import', dir)).toBe(2);
    expectError('USAGE', `suppressions import: ${dir} is a directory, not a file`);
  });
});

describe('config mistakes', () => {
  it('names an unknown provider with the known ones, and the field a typo meant', async () => {
    vi.stubEnv(
      'MAILROUTE_CONFIG',
      JSON.stringify({
        providers: [
          { provider: 'sess', mode: 'api' },
          { provider: 'ses', mode: 'api', regoin: 'eu-west-1', region: 'eu-west-1' },
        ],
        outboxDri: 'x',
      }),
    );
    expect(await cli('config', 'check')).toBe(1);
    const error = json().error;
    expect(error.code).toBe('CONFIGURATION');
    expect(error.issues).toEqual([
      { path: 'providers[0].provider', message: 'unknown provider "sess" (known: local, ses, azure, gmail, oci)' },
      { path: 'providers[1].regoin', message: 'unknown field (did you mean "region"?)' },
      { path: 'outboxDri', message: 'unknown field (did you mean "outboxDir"?)' },
    ]);
    expect(error.message).toContain('providers[1].regoin: unknown field (did you mean "region"?)');
  });
});

/** A captured message as an SMTP client would send it: a display name in an encoded word, HTML and a file. */
function eml(subject: string): Buffer {
  return Buffer.from(
    [
      'From: =?UTF-8?Q?Jos=C3=A9_from_Billing?= <billing@example.com>',
      'To: "Ann Example" <ann@example.com>, bob@example.com',
      `Subject: ${subject}`,
      'Message-ID: <m1@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: multipart/alternative; boundary="b2"',
      '',
      '--b2',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Your invoice is attached.',
      '--b2',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<html><head><style>p{color:red}</style></head><body><p>Your <b>invoice</b> is attached.</p>' +
        '<p><a href="https://example.com/pay?a=1&amp;b=2">Pay now</a></p></body></html>',
      '--b2--',
      '--b1',
      'Content-Type: application/pdf; name="invoice.pdf"',
      'Content-Disposition: attachment; filename="invoice.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.alloc(3000, 7).toString('base64'),
      '--b1--',
      '',
    ].join('\r\n'),
  );
}

describe('mailroute outbox', () => {
  let outbox: string;
  beforeEach(() => {
    outbox = join(dir, 'outbox');
  });
  const store = (subject: string) =>
    storeInOutbox(outbox, eml(subject), { from: 'billing@example.com', to: ['ann@example.com'] }, 'smtp');

  it('prints a table with the sender’s display name; --json the summaries', async () => {
    expect(await cli('outbox')).toBe(0);
    expect(text()).toBe(`No messages in ${outbox}.`);
    const first = await store('Invoice 1');
    const second = await store('Invoice 2');
    expect(await cli('outbox')).toBe(0);
    const [head, ...rows] = lines;
    expect(head).toMatch(/^TIME +FROM +TO +SUBJECT +SIZE +ID$/);
    expect(rows[0]).toContain('José from Billing <billing@example.com>');
    expect(rows[0]).toContain('ann@example.com +1');
    expect(rows[0]).toContain('Invoice 1');
    expect(rows[0]).toMatch(new RegExp(`\\d+\\.\\d KB +${first.id}$`));
    expect(rows[1]).toContain(second.id);
    expect(text()).toContain(`2 messages in ${outbox}`);
    expect(await cli('outbox', '--json')).toBe(0);
    expect(json()).toEqual({ dir: outbox, messages: [first, second] });
  });

  it('reads the display name from the message when its summary has none (captured by an older version)', async () => {
    const m = await store('Old');
    const file = join(outbox, `${m.id}.json`);
    const { fromName: _dropped, ...older } = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify(older));
    expect(await cli('outbox')).toBe(0);
    expect(lines[1]).toContain('José from Billing <billing@example.com>');
  });

  it('show ID prints the headers, the text, the HTML as text and the attachments; --raw the source', async () => {
    const m = await store('Invoice =?UTF-8?Q?n=C2=B0_7?=');
    expect(await cli('outbox', 'show', m.id)).toBe(0);
    const shown = text();
    expect(shown).toContain(`Message ${m.id}`);
    expect(shown).toContain('From: "José from Billing" <billing@example.com>');
    expect(shown).toContain('Subject: Invoice n° 7');
    expect(shown).toMatch(/Text\n {2}Your invoice is attached\./);
    expect(shown).toMatch(
      /HTML \(as text; [^)]*\)\n {2}Your invoice is attached\.\n\n {2}Pay now \(https:\/\/example\.com\/pay\?a=1&b=2\)/,
    );
    expect(shown).not.toContain('color:red');
    expect(shown).toMatch(/Attachments\n {2}invoice\.pdf +application\/pdf +2\.9 KB/);
    // By the end of its id, as the table shows it.
    expect(await cli('outbox', 'show', m.id.slice(-8), '--raw')).toBe(0);
    expect(`${text()}\r\n`).toBe(readFileSync(join(outbox, `${m.id}.eml`), 'utf8'));
    expect(await cli('outbox', 'show', m.id, '--json')).toBe(0);
    expect(json()).toMatchObject({
      ok: true,
      summary: { id: m.id },
      text: 'Your invoice is attached.',
      attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', size: 3000 }],
    });
  });

  it('show: a sentence for an unknown id or a missing one', async () => {
    expect(await cli('outbox', 'show', 'nope')).toBe(2);
    expect(json().error.message).toBe(`no message "nope" in ${outbox} (\`mailroute outbox\` lists them)`);
    expect(await cli('outbox', 'show')).toBe(2);
    expect(json().error.message).toMatch(/^outbox show needs the ID of a message/);
    expect(await cli('outbox', '--raw')).toBe(2);
    expect(json().error.message).toBe('--raw is for outbox show ID');
  });

  it('clear deletes the .eml/.json pairs and says how many', async () => {
    await store('One');
    await store('Two');
    writeFileSync(join(outbox, 'notes.txt'), 'not a message');
    expect(await cli('outbox', 'clear')).toBe(0);
    expect(text()).toBe(`Deleted 2 messages from ${outbox}.`);
    expect(readdirSync(outbox)).toEqual(['notes.txt']);
    expect(await cli('outbox', 'clear', '--json')).toBe(0);
    expect(json()).toEqual({ ok: true, dir: outbox, deleted: 0 });
  });

  it('--dir names another outbox', async () => {
    const other = join(dir, 'other');
    await storeInOutbox(other, eml('Elsewhere'), { from: 'a@example.com', to: ['b@example.com'] }, 'api');
    expect(await cli('outbox', '--dir', other)).toBe(0);
    expect(text()).toContain('Elsewhere');
  });
});

describe('htmlText', () => {
  it('keeps the words, the lines, the link targets; drops scripts, styles and tags', () => {
    expect(
      htmlText(
        '<style>a{}</style><script>x()</script><h1>Hi&nbsp;&amp; welcome</h1><p>Line<br>two &#8212; &#x263A;</p><ul><li>a</li><li>b</li></ul><a href="https://x.example/">https://x.example/</a>',
      ),
    ).toBe('Hi & welcome\n\nLine\ntwo — ☺\n\n- a\n- b\nhttps://x.example/');
  });
});

describe('Node 20', () => {
  const system = '/usr/bin/node';
  const systemVersion = existsSync(system) ? execFileSync(system, ['--version'], { encoding: 'utf8' }).trim() : '';
  const isNode20 = systemVersion.startsWith('v20.');
  if (!isNode20) {
    it.skip(`says Node 22 is needed (skipped: ${system} is ${systemVersion || 'absent'}, not Node 20)`, () => {});
    return;
  }
  it(`says Node 22 is needed and how to get it, exit 1 (${system} is ${systemVersion})`, async () => {
    const { code, stdout, stderr } = await mailroute(['--help'], {}, system);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `mailroute needs Node 22 or later (this is Node ${systemVersion}): install it (e.g. nvm install 22) or run it with npx, which uses the project's own Node 22\n`,
    );
    expect(stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});
