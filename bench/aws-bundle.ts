import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { parse } from 'yaml';
import { packageAws, REPO_ROOT } from '../infra/aws/package.ts';
import { readZip, staticImportClosure } from '../infra/aws/zip.ts';
import {
  bundleAlone,
  COLD_IMPORT_GOAL,
  type ColdSubject,
  type ColdTimes,
  coldStarts,
  ratio,
  ratioOver,
  sesStub,
  verdict,
} from './cold-start.ts';
import { type BenchSection, fmt, type SummaryRow } from './lib.ts';

const ROUNDS = 11;
/** serverless-esbuild's own options, which esbuild would reject. */
const PLUGIN_ONLY_OPTIONS = [
  'exclude',
  'outputFileExtension',
  'packager',
  'concurrency',
  'zipConcurrency',
  'nativeZip',
];
/** The functions whose cold start the goal is about: the ones that send. */
const HANDLERS = ['queue', 'http', 'invoke'] as const;

const MESSAGE = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };

/**
 * A function's environment with an SES API entry in `MAILROUTE_CONFIG` (no SSM read, no state table: nothing but
 * the send reaches the network, and that only the local stand-in), and the cold-start DNS check off (it would ask
 * the DNS of example.com; it runs in the background, never on a send's path).
 */
const functionEnv = (endpoint: string): NodeJS.ProcessEnv => ({
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench-secret',
  MAILROUTE_CONFIG: JSON.stringify({
    providers: [{ name: 'ses', provider: 'ses', mode: 'api', region: 'eu-west-1', endpoint }],
  }),
  MAILROUTE_CONFIG_SSM: '',
  MAILROUTE_DNS_CHECK: 'off',
});

const CONTEXT =
  "const context = { functionName: 'bench', awsRequestId: 'bench-1', getRemainingTimeInMillis: () => 30000 };";

/** Each handler's first send, as the body of `async (m) => …`; it throws unless the message was sent. */
function firstSend(name: (typeof HANDLERS)[number]): string {
  const body = JSON.stringify(MESSAGE);
  if (name === 'queue') {
    const sample = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/aws/sqs-event.json'), 'utf8'));
    const event = { Records: [{ ...sample.Records[0], messageId: 'bench-1', body }] };
    return `${CONTEXT} const r = await m.handler(${JSON.stringify(event)}, context);
      if (r.batchItemFailures.length) throw new Error(JSON.stringify(r));`;
  }
  if (name === 'invoke') {
    return `${CONTEXT} const r = await m.handler(${body}, context); if (!r.ok) throw new Error(JSON.stringify(r));`;
  }
  const event = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/aws/function-url-event.json'), 'utf8'));
  Object.assign(event, { body, isBase64Encoded: false });
  return `${CONTEXT} const r = await m.handler(${JSON.stringify(event)}, context);
    if (r.statusCode !== 200) throw new Error(JSON.stringify(r));`;
}

/** The bare SDK's first send: the same message as Simple content, one attempt, to the same stand-in. */
const SDK_SEND = `const client = new m.SESv2Client({ region: 'eu-west-1', endpoint: process.env.MR_SES_ENDPOINT,
  credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' }, maxAttempts: 1 });
const out = await client.send(new m.SendEmailCommand({ FromEmailAddress: 'app@example.com',
  Destination: { ToAddresses: ['user@example.com'] },
  Content: { Simple: { Subject: { Data: 'Hi', Charset: 'UTF-8' }, Body: { Text: { Data: 'Hello', Charset: 'UTF-8' } } } } }));
if (!out.MessageId) throw new Error('no MessageId');`;

interface Packaged {
  name: (typeof HANDLERS)[number];
  specifier: string;
  /** The entry and every chunk it imports statically: what a cold start parses before the handler runs. */
  loadedBytes: number;
  zipBytes: number;
  shippedBytes: number;
  files: number;
}

/** A packaged function, unzipped: its entry, what it loads up front, the zip's size. */
function unzipHandler(packageDir: string, work: string, name: Packaged['name']): Packaged {
  const zipPath = join(packageDir, `${name}.zip`);
  const entries = readZip(readFileSync(zipPath));
  const files = new Map<string, string>();
  for (const entry of entries) {
    const data = entry.read();
    mkdirSync(dirname(join(work, name, entry.name)), { recursive: true });
    writeFileSync(join(work, name, entry.name), data);
    if (entry.name.endsWith('.mjs')) files.set(entry.name, data.toString('utf8'));
  }
  const entry = `functions/aws/${name}.mjs`;
  const loaded = staticImportClosure(files, entry);
  return {
    name,
    specifier: pathToFileURL(join(work, name, entry)).href,
    loadedBytes: loaded.reduce((sum, f) => sum + Buffer.byteLength(files.get(f)!), 0),
    zipBytes: statSync(zipPath).size,
    shippedBytes: entries.reduce((sum, e) => sum + e.size, 0),
    files: entries.length,
  };
}

/** `@aws-sdk/client-sesv2` (client and SendEmailCommand) bundled alone with serverless.yml's esbuild settings. */
async function bundledSesClient(work: string): Promise<{ specifier: string; bytes: number }> {
  const settings = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8')).custom.esbuild;
  const options: BuildOptions = Object.fromEntries(
    Object.entries(settings as Record<string, unknown>).filter(([k]) => !PLUGIN_ONLY_OPTIONS.includes(k)),
  );
  const outfile = join(work, 'sesv2', 'index.mjs');
  const bytes = await bundleAlone(
    "export { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';",
    outfile,
    REPO_ROOT,
    options,
  );
  return { specifier: pathToFileURL(outfile).href, bytes };
}

const kb = (bytes: number) => `${fmt(bytes / 1024)} KB`;

/**
 * The packaged queue, HTTP and invoke functions against `@aws-sdk/client-sesv2` bundled alone the same way: what a
 * cold start loads, and its time in fresh Node processes, with and without the first send (to a local SES
 * stand-in), each less an empty `node`; the subjects take turns so drift on the machine hits them alike.
 */
export async function run(): Promise<BenchSection> {
  const work = mkdtempSync(join(tmpdir(), 'mailroute-bench-aws-'));
  const stub = await sesStub();
  try {
    const out = join(work, 'package');
    const { durationMs } = await packageAws(['--package', out]);
    const handlers = HANDLERS.map((name) => unzipHandler(out, work, name));
    const sdk = await bundledSesClient(work);
    const env = { ...functionEnv(stub.endpoint), MR_SES_ENDPOINT: stub.endpoint };
    // The queue function once more with the cold-start DNS check on, as deployed: it loads the doctor (mailauth)
    // in the background while the first message is sent. Its DNS server is a closed local port: nothing leaves.
    const dnsCheck = { ...env, MAILROUTE_DNS_CHECK: 'on', MAILROUTE_DNS_SERVERS: '127.0.0.1:9' };
    const subjects: ColdSubject[] = [
      { label: 'sdk', specifier: sdk.specifier, env, send: SDK_SEND },
      ...handlers.map((h) => ({ label: h.name, specifier: h.specifier, env, send: firstSend(h.name) })),
      { label: 'queue', specifier: handlers[0]!.specifier, env: dnsCheck, send: firstSend('queue') },
    ];
    const { emptyMs, emptyCpuMs, times } = await coldStarts(subjects, ROUNDS, REPO_ROOT);
    const [base, ...rest] = times as [ColdTimes, ...ColdTimes[]];
    const row = (name: string, bytes: number, t: ColdTimes, whole: string) =>
      `| ${name} | ${kb(bytes)} | ${fmt(t.processMs - emptyMs, 1)} | ${whole} | ${ratio(ratioOver(t.cpuMs, base.cpuMs, emptyCpuMs))} | ${ratio(t.importMs / base.importMs)} | ${fmt(t.sendProcessMs! - emptyMs, 1)} | ${ratio(ratioOver(t.sendProcessMs!, base.sendProcessMs!, emptyMs))} | ${ratio(ratioOver(t.sendCpuMs!, base.sendCpuMs!, emptyCpuMs))} |`;
    const rows = rest.map((t, i) => {
      const h = handlers[i] ?? handlers[0]!;
      const name = i < handlers.length ? `\`${h.name}\`` : `\`${h.name}\`, DNS check on`;
      return row(name, h.loadedBytes, t, verdict(ratioOver(t.processMs, base.processMs, emptyMs)));
    });
    const summary: SummaryRow[] = rest.flatMap((t, i) => {
      const h = handlers[i] ?? handlers[0]!;
      const name = i < handlers.length ? `\`${h.name}\`` : `\`${h.name}\` (DNS check on)`;
      const cold = ratioOver(t.processMs, base.processMs, emptyMs);
      const cpu = ratio(ratioOver(t.cpuMs, base.cpuMs, emptyCpuMs));
      const send = ratioOver(t.sendProcessMs!, base.sendProcessMs!, emptyMs);
      const sendCpu = ratio(ratioOver(t.sendCpuMs!, base.sendCpuMs!, emptyCpuMs));
      return [
        {
          measure: `AWS ${name} handler: cold import / \`@aws-sdk/client-sesv2\` bundled alone (process, less empty \`node\`)`,
          goal: `≤ ${COLD_IMPORT_GOAL}×`,
          now: `${ratio(cold)} (CPU ${cpu})`,
          met: cold <= COLD_IMPORT_GOAL,
        },
        {
          measure: `AWS ${name} handler: cold import + first send / the SDK's (process, less empty \`node\`)`,
          goal: 'none set (reported)',
          now: `${ratio(send)} (CPU ${sendCpu})`,
        },
      ];
    });
    const sizes = handlers.map(
      (h) => `\`${h.name}.zip\` ${kb(h.zipBytes)} (${kb(h.shippedBytes)} in ${h.files} files)`,
    );
    return {
      title: 'AWS Lambda bundle: size and cold import',
      markdown: [
        `\`osls package\` (offline, serverless-esbuild, ESM, minified, chunks split at \`import()\`) took ${fmt(durationMs / 1000, 1)} s: ${sizes.join(', ')}.`,
        '"Loaded up front" is the entry plus every chunk it imports statically: what a cold start parses before the',
        'handler runs. Everything else (the SES adapter and its SDK, the Azure, Gmail and OCI ones, the SQS client of the',
        'dead-letter queue, YAML, the event sources) is a chunk loaded when the configuration or the first message needs it.',
        '',
        'Cold start: fresh `node` processes importing each packaged handler (`MAILROUTE_CONFIG` with an SES API entry)',
        'against `@aws-sdk/client-sesv2` bundled alone the same way (esbuild, ESM, minified, the same `createRequire`',
        `banner), taking turns, medians of ${ROUNDS}. "Process" is spawn to exit less an empty \`node\` (${fmt(emptyMs, 1)} ms);`,
        '"in-process" is `await import()` timed inside it. "+ first send" adds the first message (an SQS record, a',
        "function URL `POST /v1/send`, a direct invoke) sent to a local SES stand-in; the SDK's is one `SendEmailCommand`",
        'to the same stand-in. The mailer (zod and the configuration schema, the providers) and the SES adapter load with',
        'the first message, so its column holds what the import no longer does. The cold-start DNS check is off but in',
        'the last row, where it is on, as deployed (its doctor loads in the background during the first send). "CPU" is',
        "the process's user and system time less the empty one's: steadier than wall time on a busy machine.",
        `Goal: process ratio ≤ ${COLD_IMPORT_GOAL}×.`,
        '',
        `| handler | loaded up front | import: process (ms) | process ratio (goal ≤ ${COLD_IMPORT_GOAL}×) | CPU ratio | in-process ratio | + first send: process (ms) | process ratio | CPU ratio |`,
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        row('SES SDK alone', sdk.bytes, base, '1×'),
        ...rows,
      ].join('\n'),
      summary,
    };
  } finally {
    await stub.close();
    rmSync(work, { recursive: true, force: true });
  }
}
