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
import { type BenchSection, fmt, median, type SummaryRow } from './lib.ts';

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
  /** CPU time this process spent (user + system, all threads), in µs: robust when other work shares the machine. */
  cpuUs: number;
  messages: number;
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
  return { rate: (count / (performance.now() - started)) * 1000, cpuUs: used.user + used.system, messages: count };
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
    /** CPU ms per message over the measured rounds: their CPU time summed, over the messages they sent. */
    cpuMs: (side: Side) =>
      runs[side].reduce((sum, r) => sum + r.cpuUs, 0) / 1000 / runs[side].reduce((sum, r) => sum + r.messages, 0),
  };
}

const SIDE_LABELS: Record<Side, string> = {
  send: '`Mailer.send()`',
  adapter: 'adapter `send()`, message composed beforehand',
  raw: 'raw SDK, input built once (beforehand)',
  rawCompose: 'raw SDK, input built per message (MailComposer / details)',
};

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
        label: 'Gmail API, media upload (text + html + 2 KiB attachment)',
        send: (i) => mailer.send(input(i, true), { provider: 'gmail' }),
        adapter: (i) => gmailAdapter.send(withFiles[i % COUNT]!, {}),
        raw: (i) => gmailUpload(withFiles[i % COUNT]!.raw),
        rawCompose: async (i) => gmailUpload(await composeRaw(i)),
        reset: reset(emulators.gmail),
      }),
      await compare({
        label: 'OCI API, submitEmail (text + html)',
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
        label: 'OCI API, submitRawEmail (text + html + 2 KiB attachment)',
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
      '(`adapter.send()` with the message composed beforehand). Two raw SDK sides: "input built per message" is the',
      'raw call with its input built from the message for every send, as its caller would (the MIME composed with',
      "nodemailer's MailComposer for the media upload and submitRawEmail, the details object for submitEmail): the",
      'baseline of the goal; "input built once" sends the same inputs pre-built from the same messages before the',
      "clock starts. CPU ms/msg: this process's CPU time (user + system, all threads) over a side's measured rounds,",
      'divided by the messages sent in them (the emulators run in another process, so it is the client side alone).',
      'Other jobs may share the cores, so the wall-clock rates vary round to round; CPU per message is the steadier',
      "figure. The ratios are the side's msg/s over the raw side's; \"CPU ratio\" is the raw side's CPU per message",
      "over the side's (inverted, so it reads as a throughput ratio when CPU-bound).",
      '',
      '| comparison | side | median msg/s | CPU ms/msg | per round (msg/s) | ÷ raw, built per message (goal ≥ 0.95 for `send()`) | ÷ raw, built once | CPU ratio to raw, built per message |',
      '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |',
      ...results.flatMap((r) =>
        SIDES.map((side) => {
          const vsCompose = fmt(r.rate(side) / r.rate('rawCompose'), 3);
          return `| ${r.label} | ${SIDE_LABELS[side]} | ${fmt(r.rate(side))} | ${fmt(r.cpuMs(side), 2)} | ${r.runs[side].map((v) => fmt(v.rate)).join(', ')} | ${side === 'send' ? `**${vsCompose}**` : vsCompose} | ${fmt(r.rate(side) / r.rate('raw'), 3)} | ${fmt(r.cpuMs('rawCompose') / r.cpuMs(side), 3)} |`;
        }),
      ),
      '',
      'CPU `send()` adds per message over the raw call with its input built per message:',
      ...results.map(
        (r) =>
          `- ${r.label}: ${fmt(r.cpuMs('send') - r.cpuMs('rawCompose'), 2)} ms (over the input built once: ${fmt(r.cpuMs('send') - r.cpuMs('raw'), 2)} ms)`,
      ),
      '',
      `Size each SDK adds: ${hasEsbuild ? 'an esbuild bundle (minified ESM) of the SDK, and' : 'esbuild is not installed here, so'}`,
      'the installed size of the package and its whole dependency closure (every file, each package once).',
      '',
      '| provider | package | bundle | installed closure | packages |',
      '| --- | --- | ---: | ---: | ---: |',
      ...sizes,
    ].join('\n'),
    summary: results.map((r): SummaryRow => {
      const now = r.rate('send') / r.rate('rawCompose');
      return {
        measure: `${r.label}: \`Mailer.send()\` / raw SDK with its input built per message (msg/s)`,
        goal: '≥ 0.95',
        now: `${fmt(now, 3)} (CPU per message: ${fmt(r.cpuMs('rawCompose') / r.cpuMs('send'), 3)}; vs input built once: ${fmt(r.rate('send') / r.rate('raw'), 3)})`,
        met: now >= 0.95,
      };
    }),
  };
}
