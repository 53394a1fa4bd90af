import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { missingSecrets, redactConfig } from '../core/config/config.ts';
import { ConfigurationError, isMailrouteError } from '../core/errors.ts';
import { jsonLogger } from '../core/util/log.ts';
// The package's loadConfig: validated against the built-in providers, so `config check` names every field.
import { createMailer, loadConfig } from '../index.ts';
import { listOutbox, outboxPath } from '../providers/local/outbox.ts';
import { LocalSmtpAdapter } from '../providers/local/smtp.ts';
import { cliMailer, eventsCommand, localEventsStore, suppressionsCommand } from './events.ts';
import { startLocalApi } from './serve.ts';

const USAGE = `Usage:
  mailroute send --message FILE.json|- [--from A] [--to A]... [--cc A]... [--bcc A]... [--reply-to A]
                 [--subject S] [--text T] [--html H] [--idempotency-key K] [--provider NAME] [--route NAME] [--config FILE]
  mailroute config check [--config FILE] [--connect]
  mailroute explain --message FILE.json|- [--route NAME] [--config FILE]
  mailroute outbox [--dir DIR]
  mailroute emulators [--dir .mailroute/emulators]
  mailroute serve [--port 3025] [--host 127.0.0.1] [--config FILE]
  mailroute events ingest --source ses|acs|oci|dsn FILE|- [--raw] [--config FILE]
  mailroute events poll [--entry NAME] [--since HOURS] [--max N] [--raw] [--config FILE]
  mailroute events stats [--days 30] [--config FILE]
  mailroute suppressions list|add ADDRESS...|remove ADDRESS...|import FILE [--reason TEXT] [--config FILE]`;

type Out = (line: string) => void;
type Command = (args: string[], out: Out) => Promise<number>;

/** Each command by the word that names it; any other word prints the usage. */
const COMMANDS = new Map<string, Command>([
  ['send', sendCommand],
  ['config', configCommand],
  ['outbox', outboxCommand],
  ['explain', explainCommand],
  ['emulators', emulatorsCommand],
  ['serve', serveCommand],
  ['events', (args, out) => eventsCommand(args, out, readStdin)],
  ['suppressions', suppressionsCommand],
]);

/** Runs one CLI command and returns its exit code: 0 done, 1 failed, 2 wrong usage. */
export async function main(argv: string[], out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const run = command === undefined ? undefined : COMMANDS.get(command);
    if (run) return await run(rest, out);
    out(USAGE);
    return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  } catch (error) {
    if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      out(JSON.stringify({ ok: false, error: { code: 'USAGE', message: error.message } }));
      return 2;
    }
    out(JSON.stringify({ ok: false, error: describe(error) }, null, 2));
    return 1;
  }
}

function describe(error: unknown): Record<string, unknown> {
  return isMailrouteError(error)
    ? error.toJSON()
    : { name: 'Error', code: 'INTERNAL', message: (error as Error).message };
}

async function sendCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      message: { type: 'string', short: 'm' },
      from: { type: 'string' },
      to: { type: 'string', multiple: true },
      cc: { type: 'string', multiple: true },
      bcc: { type: 'string', multiple: true },
      'reply-to': { type: 'string', multiple: true },
      subject: { type: 'string' },
      text: { type: 'string' },
      html: { type: 'string' },
      'idempotency-key': { type: 'string' },
      provider: { type: 'string' },
      route: { type: 'string' },
      config: { type: 'string' },
    },
  });
  let message: Record<string, unknown> = {};
  if (values.message) {
    const text = values.message === '-' ? await readStdin() : await readFile(values.message, 'utf8');
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      const issue = { path: '', message: `${values.message} is not valid JSON: ${(error as Error).message}` };
      out(JSON.stringify({ ok: false, error: { name: 'InvalidMessageError', code: 'INVALID_JSON', issues: [issue] } }));
      return 1;
    }
  }
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
  const { values } = parseArgs({ args, options: { dir: { type: 'string' } } });
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
  const { values } = parseArgs({
    args,
    options: { message: { type: 'string', short: 'm' }, route: { type: 'string' }, config: { type: 'string' } },
  });
  if (!values.message) {
    out(JSON.stringify({ ok: false, error: { code: 'USAGE', message: '--message FILE.json (or -) is required' } }));
    return 2;
  }
  const text = values.message === '-' ? await readStdin() : await readFile(values.message, 'utf8');
  const { config, source } = loadConfig({ file: values.config });
  const mailer = await createMailer(config);
  const plan = mailer.explain(JSON.parse(text), values.route ? { route: values.route } : {});
  out(JSON.stringify({ ok: true, source, ...plan }, null, 2));
  return 0;
}

async function configCommand(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'check') {
    out(USAGE);
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, connect: { type: 'boolean' } } });
  const { config, source } = loadConfig({ file: values.config });
  const missing = missingSecrets(config);
  const report: Record<string, unknown> = { ok: missing.length === 0, source, config: redactConfig(config) };
  if (missing.length) report.missingSecrets = missing;
  if (values.connect && missing.length === 0) {
    const mailer = await createMailer(config);
    try {
      const connect = await mailer.verify();
      report.connect = connect;
      report.ok = connect.every((c) => c.ok);
    } finally {
      await mailer.close();
    }
  }
  out(JSON.stringify(report, null, 2));
  return report.ok ? 0 : 1;
}

async function outboxCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { dir: { type: 'string' } } });
  const dir = outboxPath(values.dir ?? loadConfig().config.outboxDir);
  out(JSON.stringify({ dir, messages: await listOutbox(dir) }, null, 2));
  return 0;
}

async function serveCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string' }, host: { type: 'string' }, config: { type: 'string' } },
  });
  const { config, source } = loadConfig({ file: values.config });
  const eventsStore = localEventsStore(config);
  const mailer = await createMailer(config, { logger: jsonLogger(), ...(eventsStore ? { eventsStore } : {}) });
  const port = Number(values.port ?? process.env.PORT ?? 3025);
  const host = values.host ?? '127.0.0.1';
  const api = await startLocalApi(mailer, { port, host }).catch(async (error: NodeJS.ErrnoException) => {
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
  out('Send a message (then `npx mailroute outbox` lists what arrived):');
  out(curlExample(api.url));
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
