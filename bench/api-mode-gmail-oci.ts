import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { auth, gmail } from '@googleapis/gmail';
import MailComposer from 'nodemailer/lib/mail-composer';
import { CircuitBreaker, NoRetryConfigurationDetails, SimpleAuthenticationDetailsProvider } from 'oci-common';
import { EmailDPClient, requests } from 'oci-emaildataplane';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { type ComposedMessage, composeMessage } from '../core/message/compose.ts';
import { normalizeMessage } from '../core/message/validate.ts';
import { createAdapter } from '../providers/index.ts';
import { submitEmailDetails } from '../providers/oci/api-request.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const COUNT = 120;
const WARMUP = 40;
const ROUNDS = 5;
const CONCURRENCY = 16;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SA = 'bench@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const OCI = { tenancy: 'ocid1.tenancy.oc1..bench', user: 'ocid1.user.oc1..bench', fingerprint: 'aa:bb:cc:dd' };
const COMPARTMENT = 'ocid1.compartment.oc1..bench';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const GMAIL_SCOPE = 'https://www.googleapis.com/auth/gmail.send';

interface Emulators {
  gmail: string;
  tokenUrl: string;
  oci: string;
  stop(): void;
}

/**
 * The emulators run in a child process, so that their work does not share the event loop of the side being
 * measured (in one process it would dilute any difference between the two sides).
 */
async function startEmulators(gmailKey: string, ociKey: string): Promise<Emulators> {
  const code = `
    const { startGmailEmulator } = await import(${JSON.stringify(new URL('../emulators/gmail/index.ts', import.meta.url).href)});
    const { startOciEmulator } = await import(${JSON.stringify(new URL('../emulators/oci/index.ts', import.meta.url).href)});
    const keys = JSON.parse(process.env.MR_BENCH_KEYS);
    const g = await startGmailEmulator({ serviceAccounts: [{ clientEmail: ${JSON.stringify(SA)}, publicKeyPem: keys.gmail }], delegatedUsers: [${JSON.stringify(SENDER)}] });
    const o = await startOciEmulator({ keys: [{ keyId: ${JSON.stringify(`${OCI.tenancy}/${OCI.user}/${OCI.fingerprint}`)}, publicKeyPem: keys.oci }] });
    console.log(JSON.stringify({ gmail: g.url, tokenUrl: g.tokenUrl, oci: o.url }));
    process.stdin.on('end', () => process.exit(0)).resume();`;
  const env = { ...process.env, MR_BENCH_KEYS: JSON.stringify({ gmail: gmailKey, oci: ociKey }) };
  const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', code], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = await once(createInterface({ input: child.stdout! }), 'line');
  return { ...(JSON.parse(String(line)) as Omit<Emulators, 'stop'>), stop: () => child.stdin!.end() };
}

interface Run {
  /** Messages per second, wall clock. */
  rate: number;
  /** CPU time this process spent per message (user + system), in ms: robust when other work shares the machine. */
  cpuMs: number;
}

/** `count` calls of `send(i)`, `CONCURRENCY` in flight. */
async function pump(count: number, send: (i: number) => Promise<unknown>): Promise<Run> {
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const worker = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(cpu);
  return { rate: (count / (performance.now() - started)) * 1000, cpuMs: (used.user + used.system) / 1000 / count };
}

const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

const SIDES = ['send', 'adapter', 'raw', 'rawCompose'] as const;
type Side = (typeof SIDES)[number];

interface Comparison extends Record<Side, (i: number) => Promise<unknown>> {
  label: string;
  reset: () => Promise<unknown>;
}

/** Rotates the order of the sides round by round (so drift affects all alike) and keeps each side's median. */
async function compare(c: Comparison) {
  const runs: Record<Side, Run[]> = { send: [], adapter: [], raw: [], rawCompose: [] };
  for (const side of SIDES) await pump(WARMUP, c[side]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < SIDES.length; k++) {
      const side = SIDES[(round + k) % SIDES.length]!;
      await c.reset();
      runs[side].push(await pump(COUNT, c[side]));
    }
  }
  return {
    label: c.label,
    runs,
    rate: (side: Side) => median(runs[side].map((r) => r.rate)),
    cpuMs: (side: Side) => median(runs[side].map((r) => r.cpuMs)),
  };
}

/** One table row: the four sides (as rates: higher is better) and the three ratios. */
function row(label: string, rates: number[], show: (rate: number) => string): string {
  const [send, adapter, raw, rawCompose] = rates as [number, number, number, number];
  const ratios = [send / raw, adapter / raw, send / rawCompose].map((x) => fmt(x, 3));
  return `| ${label} | ${[send, adapter, raw, rawCompose].map(show).join(' | ')} | **${ratios[0]}** | ${ratios[1]} | ${ratios[2]} |`;
}

/** Installed size of a package and everything it depends on, each package counted once (nested or hoisted). */
function installedClosure(name: string): { bytes: number; packages: number } {
  const seen = new Set<string>();
  const dirSize = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
      if (entry.name === 'node_modules') return sum;
      const path = join(dir, entry.name);
      return sum + (entry.isDirectory() ? dirSize(path) : entry.isFile() ? statSync(path).size : 0);
    }, 0);
  const resolve = (dep: string, from: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', dep);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      if (dir === dirname(dir)) return undefined;
    }
  };
  let bytes = 0;
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    bytes += dirSize(dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const found = resolve(dep, dir);
      if (found) visit(found);
    }
  };
  visit(resolve(name, ROOT)!);
  return { bytes, packages: seen.size };
}

/** Minified ESM bundle of one import of the SDK, when esbuild is installed. */
function bundleSize(importLine: string): number {
  // Inside the repository, so that esbuild resolves the SDK from its node_modules.
  mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'node_modules/.cache/mr-bundle-'));
  try {
    writeFileSync(join(dir, 'entry.mjs'), `${importLine}\nconsole.log(sdk);\n`);
    const esbuild = join(ROOT, 'node_modules/.bin/esbuild');
    const args = [join(dir, 'entry.mjs'), '--bundle', '--minify', '--platform=node', '--format=esm'];
    execFileSync(esbuild, [...args, `--outfile=${join(dir, 'out.mjs')}`], { cwd: ROOT, stdio: 'ignore' });
    return statSync(join(dir, 'out.mjs')).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mailer.send() against the raw SDK call on the same emulators, for Gmail and OCI in API mode. */
export async function run(): Promise<BenchSection> {
  const gmailKey = rsa();
  const ociKey = rsa();
  const emulators = await startEmulators(gmailKey.publicKey, ociKey.publicKey);
  process.env.MR_BENCH_GMAIL_KEY = gmailKey.privateKey;
  process.env.MR_BENCH_OCI_KEY = ociKey.privateKey;
  const config = validateConfig({
    providers: [
      {
        name: 'gmail',
        provider: 'gmail',
        mode: 'api',
        endpoint: emulators.gmail,
        serviceAccount: { clientEmail: SA, privateKey: { env: 'MR_BENCH_GMAIL_KEY' }, tokenUrl: emulators.tokenUrl },
        user: SENDER,
      },
      {
        name: 'oci',
        provider: 'oci',
        mode: 'api',
        region: 'us-ashburn-1',
        endpoint: emulators.oci,
        compartmentId: COMPARTMENT,
        apiKey: { ...OCI, privateKey: { env: 'MR_BENCH_OCI_KEY' } },
      },
    ],
  });
  const mailer = new Mailer(config, createAdapter);
  const attachment = { filename: 'report.bin', content: Buffer.alloc(2048, 7).toString('base64') };
  const input = (i: number, withAttachment: boolean) => ({
    from: `Bench <${SENDER}>`,
    to: [`to${i % 7}@example.net`, 'cc@example.org'],
    subject: `Bench message ${i}`,
    text: 'Hello from the benchmark.\n'.repeat(20),
    html: `<p>${'Hello from the benchmark. '.repeat(20)}</p>`,
    ...(withAttachment ? { attachments: [attachment] } : {}),
  });
  // The raw side sends pre-built inputs composed from the same messages, outside the measured time.
  const prebuilt = async (withAttachment: boolean): Promise<ComposedMessage[]> =>
    Promise.all(Array.from({ length: COUNT }, (_, i) => composeMessage(normalizeMessage(input(i, withAttachment)))));
  const withFiles = await prebuilt(true);
  const plain = await prebuilt(false);
  const reset = (url: string) => () => fetch(`${url}/_emulator/reset`, { method: 'POST' }).then((r) => r.arrayBuffer());

  // The raw SDKs, set up the way their own docs and the emulator tests do it.
  const jwt = new auth.JWT({ email: SA, key: gmailKey.privateKey, scopes: [GMAIL_SCOPE], subject: SENDER });
  jwt.transporter.interceptors.request.add({
    resolved: async (c) => {
      if (c.url.toString() === GOOGLE_TOKEN_URL) c.url = new URL(emulators.tokenUrl);
      return c;
    },
  });
  const rootUrl = `${emulators.gmail}/`;
  const gmailClient = gmail({ version: 'v1', auth: jwt, rootUrl });
  const ociClient = new EmailDPClient(
    {
      authenticationDetailsProvider: new SimpleAuthenticationDetailsProvider(
        OCI.tenancy,
        OCI.user,
        OCI.fingerprint,
        ociKey.privateKey,
        null,
      ),
    },
    {
      retryConfiguration: NoRetryConfigurationDetails,
      circuitBreaker: new CircuitBreaker({ disableClientCircuitBreaker: true }),
    },
  );
  ociClient.endpoint = emulators.oci;
  const gmailAdapter = await mailer.adapter('gmail');
  const ociAdapter = await mailer.adapter('oci');
  const rawDetails = plain.map((p) => submitEmailDetails(p, COMPARTMENT));
  const rawText = withFiles.map((p) => p.raw.toString('utf8'));
  // What a caller of the raw SDK writes per message: compose the MIME (or the details) from the message itself.
  const composeRaw = (i: number) =>
    new MailComposer({
      ...input(i, false),
      attachments: [{ filename: attachment.filename, content: attachment.content, encoding: 'base64' }],
    })
      .compile()
      .build();
  const gmailUpload = (raw: Buffer) =>
    gmailClient.users.messages.send(
      { userId: 'me', media: { mimeType: 'message/rfc822', body: raw } },
      { rootUrl, retry: false },
    );
  const ociRaw = (raw: string, recipients: string[]) =>
    ociClient.submitRawEmail({
      contentType: requests.SubmitRawEmailRequest.ContentType.MessageRfc822,
      compartmentId: COMPARTMENT,
      sender: SENDER,
      recipients,
      rawMessage: raw,
      contentLength: Buffer.byteLength(raw),
    });

  const results = [];
  try {
    results.push(
      await compare({
        label: 'Gmail, media upload (text + html + 2 KiB attachment)',
        send: (i) => mailer.send(input(i, true), { provider: 'gmail' }),
        adapter: (i) => gmailAdapter.send(withFiles[i % COUNT]!, {}),
        raw: (i) => gmailUpload(withFiles[i % COUNT]!.raw),
        rawCompose: async (i) => gmailUpload(await composeRaw(i)),
        reset: reset(emulators.gmail),
      }),
      await compare({
        label: 'OCI, submitEmail (text + html)',
        send: (i) => mailer.send(input(i, false), { provider: 'oci' }),
        adapter: (i) => ociAdapter.send(plain[i % COUNT]!, {}),
        raw: (i) => ociClient.submitEmail({ submitEmailDetails: rawDetails[i % COUNT]! }),
        rawCompose: (i) => {
          const m = input(i, false);
          const submitEmailDetails = {
            sender: { senderAddress: { email: SENDER, name: 'Bench' }, compartmentId: COMPARTMENT },
            recipients: { to: m.to.map((email) => ({ email })) },
            subject: m.subject,
            bodyText: m.text,
            bodyHtml: m.html,
          };
          return ociClient.submitEmail({ submitEmailDetails });
        },
        reset: reset(emulators.oci),
      }),
      await compare({
        label: 'OCI, submitRawEmail (text + html + 2 KiB attachment)',
        send: (i) => mailer.send(input(i, true), { provider: 'oci' }),
        adapter: (i) => ociAdapter.send(withFiles[i % COUNT]!, {}),
        raw: (i) => ociRaw(rawText[i % COUNT]!, withFiles[i % COUNT]!.envelope.to),
        rawCompose: async (i) => ociRaw((await composeRaw(i)).toString('utf8'), input(i, false).to),
        reset: reset(emulators.oci),
      }),
    );
  } finally {
    await mailer.close();
    ociClient.close();
    emulators.stop();
  }

  const hasEsbuild = existsSync(join(ROOT, 'node_modules/.bin/esbuild'));
  const sizes = [
    ['Gmail', '@googleapis/gmail', "import * as sdk from '@googleapis/gmail';"],
    ['OCI', 'oci-emaildataplane', "import * as sdk from 'oci-emaildataplane';"],
  ].map(([provider, pkg, line]) => {
    const closure = installedClosure(pkg!);
    const bundled = hasEsbuild ? `${fmt(bundleSize(line!) / 1024)} KiB` : 'n/a';
    return `| ${provider} | \`${pkg}\` | ${bundled} | ${fmt(closure.bytes / 2 ** 20, 1)} MiB | ${closure.packages} |`;
  });

  return {
    title: 'API mode: send() against the raw SDK call, Gmail and OCI emulators',
    markdown: [
      `${COUNT} messages per round, ${CONCURRENCY} in flight, ${ROUNDS} rounds with the sides alternated (after ${WARMUP}`,
      'warm-up sends per side); both sides in one process, the emulators in another (signatures and tokens checked).',
      '`send()` validates, composes and routes every message; "adapter" is the provider mode alone',
      '(`adapter.send()` with the message composed beforehand); the raw SDK call sends the same pre-built input;',
      '"raw + compose" is the raw call with the input built per message as its caller would (nodemailer MailComposer).',
      '',
      '| comparison | `send()` | adapter | raw SDK | raw SDK + compose | send() / raw (goal ≥ 0.95) | adapter / raw | send() / (raw + compose) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map((r) =>
        row(
          r.label,
          SIDES.map((side) => r.rate(side)),
          (x) => fmt(x),
        ),
      ),
      '',
      'The same runs as client CPU per message (ms; ratios inverted, so they read as throughput ratios when CPU-bound).',
      'Other jobs shared the 2 cores during these runs, so the wall-clock rates above vary widely round to round;',
      'CPU time per message is charged to this process alone and is the steadier figure.',
      '',
      '| comparison | `send()` | adapter | raw SDK | raw SDK + compose | raw / send() | raw / adapter | (raw + compose) / send() |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...results.map((r) =>
        row(
          r.label,
          SIDES.map((side) => 1 / r.cpuMs(side)),
          (x) => fmt(1 / x, 2),
        ),
      ),
      '',
      'Per round, msg/s, send() / adapter / raw / raw + compose:',
      ...results.map(
        (r) => `- ${r.label}: ${SIDES.map((side) => r.runs[side].map((v) => fmt(v.rate)).join(', ')).join(' / ')}`,
      ),
      '',
      `Size each SDK adds: ${hasEsbuild ? 'an esbuild bundle (minified ESM) of the SDK, and' : 'esbuild is not installed here, so'}`,
      'the installed size of the package and its whole dependency closure (every file, each package once).',
      '',
      '| provider | package | bundle | installed closure | packages |',
      '| --- | --- | ---: | ---: | ---: |',
      ...sizes,
    ].join('\n'),
  };
}
