// Only node built-ins and tiny modules at the top: `--help`, `--version` and `outbox` start in a fraction of a
// second. The package (every provider, the schemas, the SDKs), the stores and the emulators are imported inside
// the commands that use them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMailrouteError } from '../core/errors.ts';
import { didYouMean } from '../core/util/did-you-mean.ts';
import type { OutboxSummary } from '../providers/local/outbox.ts';

type Out = (line: string) => void;
type Command = (args: string[], out: Out) => Promise<number>;

/** One option of a command: how `parseArgs` reads it, and what `--help` says of it. */
interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in the help (`FILE`, `N`). */
  value?: string;
  help: string;
}
type Options = Record<string, OptionSpec>;
type Values<O extends Options> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

interface CommandSpec {
  summary: string;
  /** Usage lines, after `mailroute `. */
  usage: string[];
  options: Options;
  /** The words that may follow the command (`config check`, `outbox show`), for "did you mean". */
  subcommands?: string[];
  notes?: string[];
  run: Command;
  /** The subcommands whose first argument is a file to read (checked before the command runs). */
  fileArgument?: string[];
  /** The help text, when the command writes its own (`dlq`). */
  help?: () => Promise<string>;
}

/** A mistake in how the CLI was called: printed as `{ ok: false, error: { code: "USAGE", message } }`, exit 2. */
class UsageError extends Error {
  readonly code = 'USAGE';
  readonly details: Record<string, unknown>;
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'UsageError';
    this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

const CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  help: 'The configuration file (YAML or JSON); default: MAILROUTE_CONFIG, MAILROUTE_CONFIG_FILE, then mailroute.config.{yaml,yml,json} here, then the local capture inbox.',
} as const satisfies OptionSpec;

const SEND_OPTIONS = {
  message: {
    type: 'string',
    short: 'm',
    value: 'FILE.json|-',
    help: 'The message as JSON (- reads standard input); the flags below override its fields.',
  },
  from: { type: 'string', value: 'ADDRESS', help: 'The sender, such as "App <app@example.com>".' },
  to: { type: 'string', multiple: true, value: 'ADDRESS', help: 'A recipient; repeat for more.' },
  cc: { type: 'string', multiple: true, value: 'ADDRESS', help: 'A copy recipient; repeat for more.' },
  bcc: { type: 'string', multiple: true, value: 'ADDRESS', help: 'A blind copy recipient; repeat for more.' },
  'reply-to': { type: 'string', multiple: true, value: 'ADDRESS', help: 'Where replies go; repeat for more.' },
  subject: { type: 'string', value: 'TEXT', help: 'The subject.' },
  text: { type: 'string', value: 'TEXT', help: 'The plain-text body.' },
  html: { type: 'string', value: 'HTML', help: 'The HTML body.' },
  'idempotency-key': {
    type: 'string',
    value: 'KEY',
    help: 'Sends at most once for this key: a repeat answers with the first send.',
  },
  provider: { type: 'string', value: 'NAME', help: 'Sends through this provider entry only.' },
  route: { type: 'string', value: 'NAME', help: 'Sends through this route.' },
  config: CONFIG_OPTION,
} as const satisfies Options;

const CONFIG_OPTIONS = {
  config: CONFIG_OPTION,
  connect: {
    type: 'boolean',
    help: 'Also opens each provider (connection, TLS, authentication) without sending anything.',
  },
  dns: {
    type: 'boolean',
    help: 'Also runs the deliverability checks of `mailroute doctor` (SPF, DKIM, DMARC of every route).',
  },
  resolver: { type: 'string', value: 'HOST:PORT', help: 'With --dns: the DNS server to query.' },
} as const satisfies Options;

const DOCTOR_OPTIONS = {
  domain: {
    type: 'string',
    value: 'DOMAIN',
    help: 'Checks this sender domain only (else every one the configuration names).',
  },
  route: { type: 'string', value: 'NAME', help: 'Checks this route only.' },
  resolver: {
    type: 'string',
    value: 'HOST:PORT',
    help: 'Queries this DNS server (comma-separated for several); else MAILROUTE_DNS_SERVERS, else the system resolver.',
  },
  'no-api': { type: 'boolean', help: "Uses the providers' documented patterns only, without asking their APIs." },
  json: { type: 'boolean', help: 'Prints the report as JSON.' },
  config: CONFIG_OPTION,
} as const satisfies Options;

const EXPLAIN_OPTIONS = {
  message: { type: 'string', short: 'm', value: 'FILE.json|-', help: 'The message as JSON (- reads standard input).' },
  route: { type: 'string', value: 'NAME', help: 'Explains this route instead of the one the message would take.' },
  config: CONFIG_OPTION,
} as const satisfies Options;

const OUTBOX_OPTIONS = {
  dir: {
    type: 'string',
    value: 'DIR',
    help: 'The capture directory; default MAILROUTE_OUTBOX, the configuration\'s outboxDir, then ".mailroute/outbox".',
  },
  json: { type: 'boolean', help: 'Prints JSON for scripts instead of the table (or the message).' },
  raw: { type: 'boolean', help: 'outbox show: prints the message as captured (its .eml source).' },
  config: CONFIG_OPTION,
} as const satisfies Options;

const EMULATORS_OPTIONS = {
  dir: {
    type: 'string',
    value: 'DIR',
    help: 'Where the credentials (emulators.env) and a configuration using them are written; default .mailroute/emulators.',
  },
} as const satisfies Options;

const SERVE_OPTIONS = {
  port: { type: 'string', value: 'N', help: 'The port, 0-65535 (0 picks a free one); default PORT, else 3025.' },
  host: { type: 'string', value: 'HOST', help: 'The address to listen on; default 127.0.0.1.' },
  config: CONFIG_OPTION,
} as const satisfies Options;

/** Parsed by `cli/events.ts`; listed here for `--help` and "did you mean". */
const EVENTS_OPTIONS = {
  source: {
    type: 'string',
    value: 'ses|acs|oci|dsn',
    help: 'ingest: what the file holds: SES (SNS) notifications, ACS (Event Grid) events, OCI log records, or a DSN.',
  },
  raw: { type: 'boolean', help: 'ingest, poll: also prints each event as the provider sent it.' },
  entry: { type: 'string', value: 'NAME', help: 'poll: the gmail provider entry whose mailbox is read.' },
  since: {
    type: 'string',
    value: 'HOURS',
    help: 'poll: reads the last HOURS instead of what is new since the last poll.',
  },
  max: { type: 'string', value: 'N', help: 'poll: reads at most N messages.' },
  days: { type: 'string', value: 'N', help: 'stats: the last N days, today included; default 30.' },
  config: CONFIG_OPTION,
} as const satisfies Options;

/** Parsed by `cli/events.ts`; listed here for `--help` and "did you mean". */
const SUPPRESSIONS_OPTIONS = {
  reason: { type: 'string', value: 'TEXT', help: 'add: why these addresses are suppressed (kept with each).' },
  config: CONFIG_OPTION,
} as const satisfies Options;

/** Each command by the word that names it. */
const COMMANDS: Record<string, CommandSpec> = {
  send: {
    summary: 'sends one message through the configured providers and prints the result as JSON.',
    usage: [
      'send --message FILE.json|- [--from A] [--to A]... [--cc A]... [--bcc A]... [--reply-to A]... [--subject S]',
      '     [--text T] [--html H] [--idempotency-key K] [--provider NAME] [--route NAME] [--config FILE]',
      'send --from A --to A --subject S --text T',
    ],
    options: SEND_OPTIONS,
    notes: [
      'Prints { "ok": true, "result": {...} } and exits 0, or { "ok": false, "error": { name, code, message, ... } }',
      'and exits 1 (2 for wrong usage). With no configuration, the message goes to the local capture inbox.',
    ],
    run: sendCommand,
  },
  config: {
    summary: 'checks the configuration and prints it with its secrets redacted.',
    usage: ['config check [--config FILE] [--connect] [--dns [--resolver HOST:PORT]]'],
    options: CONFIG_OPTIONS,
    subcommands: ['check'],
    notes: [
      'Prints { ok, source, config, missingSecrets?, connect?, dns? }; exits 0 when everything is in order, else 1.',
      'With --dns, ok is false when a route can reach a provider whose mail would fail DMARC (see `doctor`).',
    ],
    run: configCommand,
  },
  doctor: {
    summary: 'checks SPF, DKIM and DMARC of every sender domain for every provider each route can fail over to.',
    usage: ['doctor [--domain DOMAIN] [--route NAME] [--resolver HOST:PORT] [--no-api] [--json] [--config FILE]'],
    options: DOCTOR_OPTIONS,
    notes: [
      "Asks each provider's API for its records when the entry's credentials allow (SES GetEmailIdentity, OCI email",
      'domains, ACS domain resources), else uses its documented pattern, and says which. Prints a table per sender',
      'domain and route, with the DNS records to publish; exits 1 when a route can reach a provider whose mail would',
      'fail DMARC for a domain it sends for, else 0.',
    ],
    run: async (args, out) => {
      const { values } = parse('doctor', DOCTOR_OPTIONS, args);
      return (await import('./doctor.ts')).doctorCommand(values, out);
    },
  },
  explain: {
    summary: 'prints the route and the providers, in order, a message would take, and why, without sending it.',
    usage: ['explain --message FILE.json|- [--route NAME] [--config FILE]'],
    options: EXPLAIN_OPTIONS,
    run: explainCommand,
  },
  outbox: {
    summary: 'lists, shows or clears the messages captured by the local capture inbox.',
    usage: ['outbox [--dir DIR] [--json]', 'outbox show ID [--raw] [--json] [--dir DIR]', 'outbox clear [--dir DIR]'],
    options: OUTBOX_OPTIONS,
    subcommands: ['show', 'clear'],
    notes: [
      'The table shows each message: when it arrived, its sender, recipients, subject, size and id; `outbox show ID`',
      'prints one (headers, text, the text of its HTML, attachments); `outbox clear` deletes them all.',
    ],
    run: outboxCommand,
  },
  emulators: {
    summary: 'starts local emulators of the provider APIs (SES, ACS, Gmail, OCI, SQS) until interrupted.',
    usage: ['emulators [--dir .mailroute/emulators]'],
    options: EMULATORS_OPTIONS,
    run: emulatorsCommand,
  },
  serve: {
    summary: 'serves the HTTP API (POST /v1/send, POST /v1/events/SOURCE, GET /healthz) until interrupted.',
    usage: ['serve [--port 3025] [--host 127.0.0.1] [--config FILE]'],
    options: SERVE_OPTIONS,
    run: serveCommand,
  },
  events: {
    summary: "applies the providers' delivery events (bounces, complaints) and prints counts.",
    usage: [
      'events ingest --source ses|acs|oci|dsn FILE|- [--raw] [--config FILE]',
      'events poll [--entry NAME] [--since HOURS] [--max N] [--raw] [--config FILE]',
      'events stats [--days 30] [--config FILE]',
    ],
    options: EVENTS_OPTIONS,
    subcommands: ['ingest', 'poll', 'stats'],
    fileArgument: ['ingest'],
    notes: [
      'ingest: applies the events in FILE (- for standard input) and prints each as a JSON line.',
      "poll: reads the bounces that came back to a gmail entry's mailbox through the Gmail API.",
      'stats: prints the delivery counts of each provider.',
    ],
    run: (args, out) => import('./events.ts').then((m) => m.eventsCommand(args, out, readStdin)),
  },
  suppressions: {
    summary: 'lists or changes the suppression list: the addresses no message is sent to.',
    usage: [
      'suppressions list [--config FILE]',
      'suppressions add ADDRESS... [--reason TEXT] [--config FILE]',
      'suppressions remove ADDRESS... [--config FILE]',
      'suppressions import FILE [--config FILE]',
    ],
    options: SUPPRESSIONS_OPTIONS,
    subcommands: ['list', 'add', 'remove', 'import'],
    fileArgument: ['import'],
    notes: ['import: one address a line, optionally ",reason" after it (a CSV with a header row works too).'],
    run: (args, out) => import('./events.ts').then((m) => m.suppressionsCommand(args, out)),
  },
  dlq: {
    summary: 'lists or replays the messages of a dead-letter queue (SQS, Storage Queue, Pub/Sub, OCI Queue).',
    usage: ['dlq list|replay --from QUEUE ...'],
    options: {},
    subcommands: ['list', 'replay'],
    run: (args, out) => import('./dlq.ts').then((m) => m.dlqCommand(args, out)),
    help: () => import('./dlq.ts').then((m) => m.DLQ_HELP),
  },
};

/** Runs one CLI command and returns its exit code: 0 done, 1 failed, 2 wrong usage. */
export async function main(argv: string[], out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      out(usage());
      return 0;
    }
    if (command === '--version' || command === '-v') {
      out(packageVersion());
      return 0;
    }
    if (command === 'help') {
      const [topic] = rest;
      if (topic === undefined || topic === 'help') out(usage());
      else out(await commandHelp(topic, spec(topic)));
      return 0;
    }
    const cmd = spec(command);
    if (wantsHelp(rest, cmd.options)) {
      out(await commandHelp(command, cmd));
      return 0;
    }
    // `outbox` alone lists; a command that writes its own help (`dlq`) checks its own words.
    if (cmd.subcommands && !cmd.help && command !== 'outbox') checkSubcommand(command, cmd, rest[0]);
    if (cmd.options.config) checkConfigFile(optionValue(rest, 'config'));
    try {
      return await cmd.run(rest, out);
    } catch (error) {
      throw (
        fileArgumentError(error, command, cmd, rest) ??
        usageFromParseError(error, label(command, cmd, rest), await optionNames(cmd))
      );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      out(JSON.stringify({ ok: false, error: error.toJSON() }));
      return 2;
    }
    out(JSON.stringify({ ok: false, error: describe(error) }, null, 2));
    return 1;
  }
}

function spec(command: string): CommandSpec {
  const found = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (found) return found;
  const names = Object.keys(COMMANDS);
  const list = `Commands: ${names.join(', ')}, help; \`mailroute help COMMAND\` describes one`;
  if (command.startsWith('-')) {
    const meant = didYouMean(command.replace(/^-+/, ''), ['help', 'version']);
    throw new UsageError(`unknown option ${command}${meant ? ` (did you mean --${meant}?)` : ''}. ${list}`, {
      commands: names,
    });
  }
  const meant = didYouMean(command, [...names, 'help']);
  throw new UsageError(`unknown command "${command}"${meant ? ` (did you mean "${meant}"?)` : ''}. ${list}`, {
    commands: names,
  });
}

function checkSubcommand(command: string, cmd: CommandSpec, sub: string | undefined): void {
  const subs = cmd.subcommands ?? [];
  if (sub !== undefined && subs.includes(sub)) return;
  const list = subs.join(', ');
  if (sub === undefined || sub.startsWith('-')) throw new UsageError(`${command} needs one of: ${list}`);
  const meant = didYouMean(sub, subs);
  throw new UsageError(
    `unknown ${command} command "${sub}"${meant ? ` (did you mean "${meant}"?)` : ''}; one of: ${list}`,
  );
}

/** `send`, or `events ingest`: how a parse error names the command. */
function label(command: string, cmd: CommandSpec, args: string[]): string {
  return args[0] && cmd.subcommands?.includes(args[0]) ? `${command} ${args[0]}` : command;
}

/** Whether `--help` or `-h` is among the arguments (not as an option's value, nor after `--`). */
function wantsHelp(args: string[], options: Options): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const short =
      arg.length === 2 && arg.startsWith('-')
        ? Object.keys(options).find((k) => options[k]!.short === arg[1])
        : undefined;
    const option = name !== undefined && !name.includes('=') ? options[name] : short ? options[short] : undefined;
    if (option?.type === 'string') i++;
  }
  return false;
}

async function optionNames(cmd: CommandSpec): Promise<string[]> {
  if (!cmd.help) return Object.keys(cmd.options).map((o) => `--${o}`);
  // A command that writes its own help names its options there.
  const text = await cmd.help().catch(() => '');
  return [...new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? [])];
}

/** Node's `parseArgs` errors (from any command) as sentences naming the command, with "did you mean". */
function usageFromParseError(error: unknown, command: string, known: string[]): unknown {
  const code = (error as { code?: unknown })?.code;
  if (!(error instanceof TypeError) || typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) return error;
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = quoted.split('=')[0]!;
    const meant = option.startsWith('--')
      ? didYouMean(
          option.slice(2),
          known.map((k) => k.slice(2)),
        )
      : undefined;
    const hint = meant ? ` (did you mean --${meant}?)` : ` (\`mailroute ${command.split(' ')[0]} --help\` lists them)`;
    return new UsageError(`unknown option ${option} for ${command}${hint}`, { option });
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /--[a-z0-9-]+|-[a-z]/i.exec(quoted)?.[0] ?? quoted;
    if (/does not take an argument/.test(error.message)) {
      return new UsageError(`option ${option} for ${command} takes no value`, { option });
    }
    const dash = /ambiguous/.test(error.message) ? ` (a value that starts with a dash: ${option}=-VALUE)` : '';
    return new UsageError(`option ${option} for ${command} needs a value${dash}`, { option });
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return new UsageError(`${command} takes no argument "${quoted}"`);
  }
  return new UsageError(`${command}: ${error.message}`);
}

/** Parses a command's options; a mistake becomes a sentence naming the command. */
function parse<O extends Options>(
  command: string,
  options: O,
  args: string[],
  allowPositionals = false,
): { values: Values<O>; positionals: string[] } {
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args, options: config, allowPositionals, strict: true });
    return { values: values as Values<O>, positionals };
  } catch (error) {
    throw usageFromParseError(
      error,
      command,
      Object.keys(options).map((o) => `--${o}`),
    );
  }
}

function describe(error: unknown): Record<string, unknown> {
  if (isMailrouteError(error) || error instanceof JsonError) return error.toJSON();
  const fileError = describeFileError(error);
  if (fileError) return fileError;
  return { name: 'Error', code: 'INTERNAL', message: (error as Error)?.message ?? String(error) };
}

/** A file that could not be read, wherever it was named: a sentence, not Node's text. */
function describeFileError(error: unknown): Record<string, unknown> | undefined {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'EISDIR' && e.path === undefined) {
    return { name: 'FileError', code: 'FILE', message: 'a directory was given where a file is read' };
  }
  if (!e || typeof e.path !== 'string') return undefined;
  const reason = fileProblem(e.code, e.path);
  return reason ? { name: 'FileError', code: 'FILE', message: reason, path: e.path } : undefined;
}

function fileProblem(code: string | undefined, path: string): string | undefined {
  if (code === 'ENOENT' || code === 'ENOTDIR') return `no such file ${path}`;
  if (code === 'EISDIR') return `${path} is a directory, not a file`;
  if (code === 'EACCES' || code === 'EPERM') return `cannot read ${path}: permission denied`;
  return undefined;
}

/** Reads a file named by an option (`-` for standard input); a missing file, a directory, a refusal: a sentence. */
async function readArgFile(option: string, path: string): Promise<string> {
  if (path === '-') return readStdin();
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = fileProblem((error as NodeJS.ErrnoException).code, path);
    if (reason) throw new UsageError(`${option}: ${reason}`, { option, path });
    throw error;
  }
}

/** The message of `--message`: a JSON object, else a sentence saying what is wrong with it. */
async function readMessageArg(path: string): Promise<Record<string, unknown>> {
  const text = await readArgFile('--message', path);
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    throw new JsonError(`${path === '-' ? 'standard input' : path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    const kind = Array.isArray(message) ? 'an array' : message === null ? 'null' : `a ${typeof message}`;
    throw new JsonError(`${path === '-' ? 'standard input' : path} holds ${kind}, not a message object`);
  }
  return message as Record<string, unknown>;
}

/** The message file is not a JSON object: an invalid message, with the reason as its one issue. */
class JsonError extends Error {
  toJSON(): Record<string, unknown> {
    return {
      name: 'InvalidMessageError',
      code: 'INVALID_JSON',
      message: this.message,
      issues: [{ path: '', message: this.message }],
    };
  }
}

/**
 * A file error of `events ingest FILE` or `suppressions import FILE` (which read their file themselves): a
 * sentence naming the command and the file.
 */
function fileArgumentError(error: unknown, command: string, cmd: CommandSpec, args: string[]): UsageError | undefined {
  const sub = args[0];
  const code = (error as NodeJS.ErrnoException)?.code;
  if (!sub || !cmd.fileArgument?.includes(sub) || !fileProblem(code, '')) return undefined;
  const types = Object.fromEntries(Object.entries(cmd.options).map(([name, o]) => [name, { type: o.type }]));
  const file = parseArgs({ args: args.slice(1), options: types, allowPositionals: true, strict: false }).positionals[0];
  const path = (error as NodeJS.ErrnoException).path;
  if (!file || (path !== undefined && resolve(path) !== resolve(file))) return undefined;
  return new UsageError(`${command} ${sub}: ${fileProblem(code, file)}`, { path: file });
}

/** The last value given to a string option (`--name VALUE` or `--name=VALUE`), before any `--`. */
function optionValue(args: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    if (args[i] === `--${name}`) value = args[i + 1];
    else if (args[i]!.startsWith(`--${name}=`)) value = args[i]!.slice(name.length + 3);
  }
  return value;
}

/** `--config FILE` (or MAILROUTE_CONFIG_FILE) checked before anything loads it: a missing file is a sentence. */
function checkConfigFile(file: string | undefined): void {
  const fromEnv = file === undefined && !process.env.MAILROUTE_CONFIG ? process.env.MAILROUTE_CONFIG_FILE : undefined;
  const path = file ?? fromEnv;
  if (!path) return;
  const option = file === undefined ? 'MAILROUTE_CONFIG_FILE' : '--config';
  let problem: string | undefined;
  try {
    if (statSync(path).isDirectory()) problem = fileProblem('EISDIR', path);
  } catch (error) {
    problem = fileProblem((error as NodeJS.ErrnoException).code, path);
  }
  if (problem) throw new UsageError(`${option}: ${problem}`, { option, path });
}

/** A port from `--port` or `PORT`: a whole number 0-65535, else a sentence. */
export function parsePort(text: string | undefined, from: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const port = /^\d{1,5}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (Number.isInteger(port) && port >= 0 && port <= 65535) return port;
  const source = from === 'PORT' ? ' (from the environment variable PORT)' : '';
  throw new UsageError(`port must be a whole number 0-65535, not ${JSON.stringify(text)}${source}`, { option: from });
}

async function sendCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse('send', SEND_OPTIONS, args);
  const message = values.message ? await readMessageArg(values.message) : {};
  const flags: Record<string, unknown> = {
    from: values.from,
    to: values.to,
    cc: values.cc,
    bcc: values.bcc,
    replyTo: values['reply-to'],
    subject: values.subject,
    text: values.text,
    html: values.html,
    idempotencyKey: values['idempotency-key'],
  };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) message[key] = value;
  // --route overrides the file's route, as every flag does (the library refuses a message naming another one).
  if (values.route) delete message.route;
  const { cliMailer } = await import('./events.ts');
  const mailer = await cliMailer(values.config);
  try {
    const result = await mailer.send(message, {
      ...(values.provider ? { provider: values.provider } : {}),
      ...(values.route ? { route: values.route } : {}),
    });
    out(JSON.stringify({ ok: true, result }, null, 2));
    return 0;
  } finally {
    await mailer.close();
  }
}

/** Starts the local emulators of the provider APIs until interrupted. */
async function emulatorsCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse('emulators', EMULATORS_OPTIONS, args);
  const { startAllEmulators } = await import('./emulators.ts');
  const stop = await startAllEmulators(values.dir ?? '.mailroute/emulators', out);
  const shutdown = async () => {
    await stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return new Promise<number>(() => {});
}

/** Which route and providers a message would take, and why, without sending it. */
async function explainCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse('explain', EXPLAIN_OPTIONS, args);
  if (!values.message) throw new UsageError('explain needs --message FILE.json (or - for standard input)');
  const message = await readMessageArg(values.message);
  if (values.route) delete message.route;
  const { createMailer, loadConfig } = await import('../index.ts');
  const { config, source } = loadConfig({ file: values.config });
  const mailer = await createMailer(config);
  try {
    const plan = mailer.explain(message, values.route ? { route: values.route } : {});
    out(JSON.stringify({ ok: true, source, ...plan }, null, 2));
    return 0;
  } finally {
    await mailer.close();
  }
}

async function configCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse('config check', CONFIG_OPTIONS, args.slice(1));
  if (values.resolver && !values.dns) throw new UsageError('--resolver is for config check --dns');
  // The package's loadConfig: validated against the built-in providers, so `config check` names every field.
  const { createMailer, loadConfig, missingSecrets, redactConfig } = await import('../index.ts');
  const { config, source } = loadConfig({ file: values.config });
  const missing = missingSecrets(config);
  const report: Record<string, unknown> = { ok: missing.length === 0, source, config: redactConfig(config) };
  if (missing.length) report.missingSecrets = missing;
  if (values.dns) {
    const dns = await (await import('./doctor.ts')).diagnose(config, { resolver: values.resolver });
    report.dns = dns;
    if (!dns.ok) report.ok = false;
  }
  if (values.connect && missing.length === 0) {
    const mailer = await createMailer(config);
    try {
      const connect = await mailer.verify();
      report.connect = connect;
      report.ok = report.ok !== false && connect.every((c) => c.ok);
    } finally {
      await mailer.close();
    }
  }
  out(JSON.stringify(report, null, 2));
  return report.ok ? 0 : 1;
}

/** `outbox` (a table, or `--json`), `outbox show ID` and `outbox clear`. */
async function outboxCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parse('outbox', OUTBOX_OPTIONS, args, true);
  const [sub, ...rest] = positionals;
  if (sub !== undefined && sub !== 'show' && sub !== 'clear') {
    const meant = didYouMean(sub, ['show', 'clear']);
    throw new UsageError(
      `unknown outbox command "${sub}"${meant ? ` (did you mean "${meant}"?)` : ''}; outbox lists, outbox show ID shows one, outbox clear deletes them all`,
    );
  }
  if (values.raw && sub !== 'show') throw new UsageError('--raw is for outbox show ID');
  const extra = sub === 'show' ? rest.slice(1) : rest;
  if (extra.length) throw new UsageError(`outbox${sub ? ` ${sub}` : ''} takes no argument "${extra[0]}"`);
  const outbox = await import('../providers/local/outbox.ts');
  const dir = outbox.outboxPath(
    values.dir ?? process.env.MAILROUTE_OUTBOX ?? (await configuredOutboxDir(values.config)),
  );
  if (sub === 'clear') {
    const deleted = await outbox.clearOutbox(dir);
    out(
      values.json
        ? JSON.stringify({ ok: true, dir, deleted })
        : `Deleted ${deleted} message${deleted === 1 ? '' : 's'} from ${dir}.`,
    );
    return 0;
  }
  const messages = await outbox.listOutbox(dir);
  if (sub === 'show') {
    if (!rest[0]) throw new UsageError('outbox show needs the ID of a message (`mailroute outbox` lists them)');
    return showMessage(dir, findMessage(messages, rest[0], dir), values, out);
  }
  if (values.json) {
    out(JSON.stringify({ dir, messages }, null, 2));
    return 0;
  }
  if (messages.length === 0) {
    out(`No messages in ${dir}.`);
    return 0;
  }
  const rows = await Promise.all(
    messages.map(async (m) => [
      localTime(m.receivedAt),
      await sender(dir, m),
      recipients(m),
      m.subject ?? '(no subject)',
      size(m.size),
      m.id,
    ]),
  );
  for (const line of table(['TIME', 'FROM', 'TO', 'SUBJECT', 'SIZE', 'ID'], rows, [19, 40, 32, 40, 9, 40])) out(line);
  out('');
  out(
    `${messages.length} message${messages.length === 1 ? '' : 's'} in ${dir}; \`mailroute outbox show ID\` prints one.`,
  );
  return 0;
}

/**
 * The outbox directory a configuration names, read without the package's providers: only when there is a
 * configuration at all (the default has none).
 */
async function configuredOutboxDir(file: string | undefined): Promise<string | undefined> {
  const env = process.env;
  const hasConfig =
    file !== undefined ||
    Boolean(env.MAILROUTE_CONFIG || env.MAILROUTE_CONFIG_FILE) ||
    ['mailroute.config.yaml', 'mailroute.config.yml', 'mailroute.config.json'].some((f) => existsSync(f));
  if (!hasConfig) return undefined;
  const { loadConfig } = await import('../core/config/config.ts');
  return loadConfig({ file }).config.outboxDir;
}

/** A message by its id, or by the only id that begins or ends with what was given. */
function findMessage(messages: OutboxSummary[], id: string, dir: string): OutboxSummary {
  const exact = messages.find((m) => m.id === id);
  if (exact) return exact;
  const matches = messages.filter((m) => m.id.startsWith(id) || m.id.endsWith(id));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new UsageError(`"${id}" matches ${matches.length} messages: ${matches.map((m) => m.id).join(', ')}`);
  }
  throw new UsageError(`no message "${id}" in ${dir} (\`mailroute outbox\` lists them)`, { id, dir });
}

async function showMessage(
  dir: string,
  summary: OutboxSummary,
  options: { raw?: boolean; json?: boolean },
  out: Out,
): Promise<number> {
  const raw = await readFile(join(dir, `${summary.id}.eml`));
  if (options.raw) {
    out(raw.toString('utf8').replace(/\r?\n$/, ''));
    return 0;
  }
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  const html = typeof parsed.html === 'string' ? parsed.html : undefined;
  const headers = parsed.headerLines.map(({ key, line }) => {
    const decoded = decodedHeader(parsed, key);
    const value =
      decoded ??
      line
        .slice(line.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim();
    return { name: line.slice(0, line.indexOf(':')), value };
  });
  const attachments = parsed.attachments.map((a) => ({
    filename: a.filename ?? '(unnamed)',
    contentType: a.contentType,
    size: a.size,
    ...(a.contentDisposition === 'inline' || a.cid ? { inline: true } : {}),
  }));
  if (options.json) {
    const text = parsed.text ?? null;
    out(JSON.stringify({ ok: true, dir, summary, headers, text, html: html ?? null, attachments }, null, 2));
    return 0;
  }
  out(`Message ${summary.id}, received ${localTime(summary.receivedAt)} over ${summary.via}, ${size(summary.size)}`);
  out(`File: ${join(dir, `${summary.id}.eml`)}`);
  out('');
  out('Headers');
  for (const h of headers) out(`  ${h.name}: ${h.value}`);
  out('');
  out('Text');
  out(indent(parsed.text?.trim() ? parsed.text.trimEnd() : '(no text part)'));
  out('');
  if (html === undefined) {
    out('HTML');
    out('  (no HTML part)');
  } else {
    const text = htmlText(html);
    out(`HTML (as text; ${size(Buffer.byteLength(html))} of HTML: \`--raw\` prints it, \`npm start\` shows it)`);
    out(indent(text || '(the HTML has no text: images or layout only)'));
  }
  out('');
  out('Attachments');
  if (attachments.length === 0) out('  (none)');
  const rows = attachments.map((a) => [a.filename, a.contentType, size(a.size), a.inline ? 'inline' : '']);
  for (const line of table(undefined, rows, [60, 40, 9, 6])) out(`  ${line}`);
  return 0;
}

/** A header's value decoded (encoded words, addresses with display names), for the ones mailparser decodes. */
function decodedHeader(parsed: import('mailparser').ParsedMail, key: string): string | undefined {
  const value = parsed.headers.get(key);
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toUTCString();
  if (value && typeof value === 'object' && 'text' in value && typeof value.text === 'string') return value.text;
  return undefined;
}

/** The text of an HTML body, for a terminal: blocks on their lines, links with their targets, entities decoded. */
export function htmlText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|head|title)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a\s*>/gi, (_, d, s, inner) => {
      const href = decodeEntities(d ?? s ?? '');
      const label = inner.replace(/<[^>]*>/g, '').trim();
      return !label || decodeEntities(label) === href ? href : `${label} (${href})`;
    })
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n- ')
    .replace(/<\/?(p|div|h[1-6]|ul|ol|tr|table|blockquote|pre|section|article|header|footer|hr)\b[^>]*>/gi, '\n')
    .replace(/<\/t[dh]\s*>/gi, ' ')
    .replace(/<[^>]*>/g, '');
  return decodeEntities(text)
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return named[e.toLowerCase()] ?? all;
  });
}

/** The sender as the message names it: with its display name (`App <app@example.com>`). */
async function sender(dir: string, m: OutboxSummary): Promise<string> {
  const name = (m as OutboxSummary & { fromName?: string }).fromName;
  const address = m.from ?? m.envelope.from;
  if (name) return `${name} <${address}>`;
  // Captured before summaries kept the display name: read it from the message's header.
  return (await headerFrom(join(dir, `${m.id}.eml`)).catch(() => undefined)) ?? address;
}

/** The From header of a captured message, decoded, read from its header block only. */
async function headerFrom(file: string): Promise<string | undefined> {
  const handle = await open(file);
  let head: string;
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
  const end = head.search(/\r?\n\r?\n/);
  const block = end < 0 ? head : head.slice(0, end);
  const line = /^from:(.*(?:\r?\n[ \t].*)*)/im.exec(block)?.[1];
  if (!line?.includes('<')) return undefined;
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(Buffer.from(`${block}\r\n\r\n`, 'latin1'));
  const from = parsed.from?.value[0];
  return from?.name && from.address ? `${from.name} <${from.address}>` : undefined;
}

function recipients(m: OutboxSummary): string {
  const all = m.to.length ? [...m.to, ...m.cc] : [...m.envelope.to];
  if (all.length === 0) return '(none)';
  return all.length === 1 ? all[0]! : `${all[0]} +${all.length - 1}`;
}

function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function indent(text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => (l ? `  ${l}` : ''))
    .join('\n');
}

/** Columns padded to their widest cell, each cut at its limit with an ellipsis. */
function table(head: string[] | undefined, rows: string[][], limits: number[]): string[] {
  const cut = (cell: string, i: number) => {
    const flat = cell.replace(/\s+/g, ' ');
    const limit = limits[i] ?? 40;
    return flat.length > limit ? `${flat.slice(0, limit - 1)}…` : flat;
  };
  const cells = [...(head ? [head] : []), ...rows].map((r) => r.map(cut));
  const widths = cells.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return cells.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

async function serveCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse('serve', SERVE_OPTIONS, args);
  const port = parsePort(values.port, '--port') ?? parsePort(process.env.PORT, 'PORT') ?? 3025;
  const [
    { createMailer, loadConfig, ConfigurationError },
    { localEventsStore },
    { startLocalApi, checkExposure },
    { jsonLogger },
    { httpSettings },
  ] = await Promise.all([
    import('../index.ts'),
    import('./events.ts'),
    import('./serve.ts'),
    import('../core/util/log.ts'),
    import('../core/config/http-config.ts'),
  ]);
  const host = values.host ?? '127.0.0.1';
  // Before anything starts: beyond loopback, only with a token (and says why).
  const apiToken = process.env.MAILROUTE_API_TOKEN || undefined;
  checkExposure(host, apiToken);
  const { LocalSmtpAdapter } = await import('../providers/local/smtp.ts');
  const { config, source } = loadConfig({ file: values.config });
  httpSettings(config); // MAILROUTE_PUBLIC_HOSTS and MAILROUTE_CORS_ORIGINS checked now, not at the first request
  const eventsStore = localEventsStore(config);
  const mailer = await createMailer(config, { logger: jsonLogger(), ...(eventsStore ? { eventsStore } : {}) });
  const listen = { port, host, ...(apiToken ? { apiToken } : {}) };
  const api = await startLocalApi(mailer, listen).catch(async (error: NodeJS.ErrnoException) => {
    await mailer.close();
    if (error.code !== 'EADDRINUSE') throw error;
    throw new ConfigurationError(
      `port ${port} on ${host} is in use: start with --port N or PORT=N (0 picks a free one)`,
      {
        issues: [{ path: 'port', message: 'is in use' }],
      },
    );
  });
  out(
    `mailroute is serving the HTTP API on ${api.url} (configuration: ${source}; providers: ${mailer.names().join(', ')})`,
  );
  const first = await mailer.adapter();
  if (first instanceof LocalSmtpAdapter) {
    const capture = await first.captureServer();
    if (capture) out(`Local capture inbox: SMTP on ${capture.host}:${capture.port}, messages in ${capture.outboxDir}`);
  }
  if (apiToken) {
    out(
      `Listening on ${host}; every request but GET /healthz must send Authorization: Bearer $MAILROUTE_API_TOKEN, and the web inbox asks for it as the password (any user name). Host names besides localhost: MAILROUTE_PUBLIC_HOSTS.`,
    );
  }
  out(`Send a message, then open ${api.url}/ to read what arrives (the web inbox), or run npx mailroute outbox:`);
  const curl = curlExample(api.url);
  const send = `${api.url}/v1/send`;
  out(apiToken ? curl.replace(send, `${send} -H "authorization: Bearer $MAILROUTE_API_TOKEN"`) : curl);
  const stop = async () => {
    await api.close();
    await mailer.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => {});
}

/** A curl command that works against the served API: one message with text, html and an attachment. */
export function curlExample(url: string): string {
  const message = {
    from: 'Mailroute Demo <demo@example.com>',
    to: ['You <you@example.com>'],
    subject: 'Hello from mailroute',
    text: 'It works.',
    html: '<p>It <b>works</b>.</p>',
    attachments: [
      {
        filename: 'hello.txt',
        contentType: 'text/plain',
        content: Buffer.from('Hello, attachment!\n').toString('base64'),
      },
    ],
  };
  return `curl -sS -X POST ${url}/v1/send -H 'content-type: application/json' -d '${JSON.stringify(message)}'`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The package's version, from its package.json (above `cli/`, or above `dist/cli/` once built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mailroute' && pkg.version) return pkg.version;
    }
    dir = resolve(dir, '..');
  }
  return 'unknown';
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    `mailroute ${packageVersion()}: one send interface for email over Amazon SES, Azure Communication Email, Gmail`,
    'and OCI Email Delivery, in SMTP or API mode, with failover.',
    '',
    'Usage: mailroute COMMAND [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${capitalize(c.summary)}`),
    `  ${'help'.padEnd(width)}Describes a command: mailroute help COMMAND (or mailroute COMMAND --help).`,
    '',
    'Options: -h, --help prints this; -v, --version prints the version.',
    'Each command prints JSON (outbox a table) and exits 0 when done, 1 when it failed, 2 for wrong usage.',
  ].join('\n');
}

async function commandHelp(name: string, cmd: CommandSpec): Promise<string> {
  if (cmd.help) return cmd.help();
  const rows = Object.entries(cmd.options).map(([option, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${option}${o.value ? ` ${o.value}` : ''}`,
    o.help,
  ]);
  rows.push(['-h, --help', 'Prints this help.']);
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return [
    `mailroute ${name}: ${cmd.summary}`,
    '',
    'Usage:',
    // A line that begins with spaces continues the one before it.
    ...cmd.usage.map((u) => (u.startsWith(' ') ? `  ${' '.repeat('mailroute '.length)}${u}` : `  mailroute ${u}`)),
    '',
    'Options:',
    ...rows.map(([left, help]) => `  ${left!.padEnd(width)}${wrap(help!, 118 - width, ' '.repeat(width + 2))}`),
    ...(cmd.notes ? ['', ...cmd.notes] : []),
  ].join('\n');
}

/** Text broken into lines of at most `width` characters, the lines after the first indented. */
function wrap(text: string, width: number, indentWith: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${indentWith}`);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
