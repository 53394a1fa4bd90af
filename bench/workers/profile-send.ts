// A driver for profiling one side of the API-mode benchmarks (bench/api-mode.ts, bench/api-mode-gmail-oci.ts) on
// its own, against the provider's emulator running in a child process (so that the profile holds the client
// alone). Sides, each adding one layer to the one before:
// - `raw`: the raw SDK call with its input built per message, as its caller would;
// - `raw-als`: the same inside `ConnectWatch.run` (an AsyncLocalStorage context, as the adapters run SDK calls);
// - `adapter`: the adapter's `send()` with one message composed beforehand;
// - `adapter-prep`: the adapter's `send()` of each message validated and prepared (`normalizeMessage`,
//   `prepareMessage`) per message;
// - `send-noevents`: `Mailer.send()` with the suppression screen and the event correlation off;
// - `send`: `Mailer.send()` as configured by default.
// Run it under `node --cpu-prof`:
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/workers/profile-send.ts '{"provider":"gmail","side":"send"}'
//
// It prints one JSON line: msg/s and CPU ms per message over the measured sends, and `window`, the measured
// sends' start and end on the profiler's clock (µs, CLOCK_MONOTONIC), so that bench/workers/profile-report.ts
// counts their samples alone (not the imports, the set-up or the warm-up).
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { EmailClient } from '@azure/communication-email';
import { auth, gmail } from '@googleapis/gmail';
import MailComposer from 'nodemailer/lib/mail-composer';
import { CircuitBreaker, NoRetryConfigurationDetails, SimpleAuthenticationDetailsProvider } from 'oci-common';
import { EmailDPClient, requests } from 'oci-emaildataplane';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer, type SendOptions } from '../../core/mailer.ts';
import { composeMessage, prepareMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { ConnectWatch } from '../../providers/http/connect-watch.ts';
import { createAdapter } from '../../providers/index.ts';

interface Args {
  provider: 'gmail' | 'oci' | 'oci-raw' | 'ses' | 'acs';
  side: 'send' | 'send-noevents' | 'adapter-prep' | 'adapter' | 'raw-als' | 'raw';
  count?: number;
  warmup?: number;
  concurrency?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const COUNT = args.count ?? 3000;
const WARMUP = args.warmup ?? 300;
const CONCURRENCY = args.concurrency ?? 16;
const SA = 'bench@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const OCI = { tenancy: 'ocid1.tenancy.oc1..bench', user: 'ocid1.user.oc1..bench', fingerprint: 'aa:bb:cc:dd' };
const COMPARTMENT = 'ocid1.compartment.oc1..bench';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const credentials = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const emulator = (path: string) => JSON.stringify(new URL(`../../emulators/${path}`, import.meta.url).href);

/** The emulator in a child process; it prints what the client needs as one JSON line, and stops with stdin. */
async function startEmulator(code: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(
    process.execPath,
    ['--no-warnings', '--input-type=module', '-e', `${code}\nprocess.stdin.on('end', () => process.exit(0)).resume();`],
    { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const [line] = await once(createInterface({ input: child.stdout! }), 'line');
  return { info: JSON.parse(String(line)) as Record<string, string>, stop: (): void => void child.stdin!.end() };
}

const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

// The messages of the two benchmarks.
const apiModeMessage = {
  from: { name: 'Bench', address: 'bench@example.com' },
  to: 'user@example.com',
  subject: 'Your order has shipped',
  text: 'Your order 42 has shipped and will arrive on Thursday.\n'.repeat(8),
  html: `<p>${'Your order <b>42</b> has shipped and will arrive on Thursday.<br>'.repeat(8)}</p>`,
};
const attachment = { filename: 'report.bin', content: Buffer.alloc(2048, 7).toString('base64') };
const gmailOciInput = (i: number, withAttachment: boolean) => ({
  from: `Bench <${SENDER}>`,
  to: [`to${i % 7}@example.net`, 'cc@example.org'],
  subject: `Bench message ${i}`,
  text: 'Hello from the benchmark.\n'.repeat(20),
  html: `<p>${'Hello from the benchmark. '.repeat(20)}</p>`,
  ...(withAttachment ? { attachments: [attachment] } : {}),
});
const composeRaw = (i: number) =>
  new MailComposer({
    ...gmailOciInput(i, false),
    attachments: [{ filename: attachment.filename, content: attachment.content, encoding: 'base64' }],
  })
    .compile()
    .build();

interface Driven {
  send: (i: number) => Promise<unknown>;
  close: () => Promise<void>;
}

/** The mailer's sides for one provider entry. */
async function mailerSide(
  providers: Record<string, unknown>[],
  input: (i: number) => unknown,
  options: SendOptions,
  stop: () => void,
): Promise<Driven> {
  const off = args.side === 'send-noevents' ? { events: { correlate: false }, suppression: { enabled: false } } : {};
  const mailer = new Mailer(validateConfig({ providers, ...off }), createAdapter);
  const close = async () => {
    await mailer.close();
    stop();
  };
  if (args.side === 'send' || args.side === 'send-noevents')
    return { send: (i) => mailer.send(input(i), options), close };
  const adapter = await mailer.adapter(options.provider);
  if (args.side === 'adapter') {
    const prepared = await composeMessage(normalizeMessage(input(0)));
    return { send: () => adapter.send(prepared, {}), close };
  }
  return { send: (i) => adapter.send(prepareMessage(normalizeMessage(input(i))), {}), close };
}

/** The raw side, inside an AsyncLocalStorage context for `raw-als`. */
function rawSide(driven: Driven): Driven {
  if (args.side !== 'raw-als') return driven;
  return { ...driven, send: (i) => new ConnectWatch().run(() => driven.send(i)) };
}

const isMailerSide = () => !args.side.startsWith('raw');

async function setUp(): Promise<Driven> {
  if (args.provider === 'ses') {
    const emu = await startEmulator(
      `const { startSesEmulator } = await import(${emulator('ses/index.ts')});
       const e = await startSesEmulator(); console.log(JSON.stringify({ url: e.url }));`,
    );
    const url = emu.info.url!;
    if (isMailerSide()) {
      process.env.MR_BENCH_KEY = credentials.accessKeyId;
      process.env.MR_BENCH_SECRET = credentials.secretAccessKey;
      const entry = {
        provider: 'ses',
        mode: 'api',
        region: 'eu-west-1',
        endpoint: url,
        credentials: { accessKeyId: { env: 'MR_BENCH_KEY' }, secretAccessKey: { env: 'MR_BENCH_SECRET' } },
      };
      return mailerSide([entry], () => apiModeMessage, {}, emu.stop);
    }
    const client = new SESv2Client({ region: 'eu-west-1', endpoint: url, credentials, maxAttempts: 1 });
    const m = apiModeMessage;
    return rawSide({
      send: () =>
        client.send(
          new SendEmailCommand({
            FromEmailAddress: `"${m.from.name}" <${m.from.address}>`,
            Destination: { ToAddresses: [m.to] },
            Content: {
              Simple: {
                Subject: { Data: m.subject, Charset: 'UTF-8' },
                Body: { Text: { Data: m.text, Charset: 'UTF-8' }, Html: { Data: m.html, Charset: 'UTF-8' } },
              },
            },
          }),
        ),
      close: async () => {
        client.destroy();
        emu.stop();
      },
    });
  }
  if (args.provider === 'acs') {
    const emu = await startEmulator(
      `const { startAcsEmulator } = await import(${emulator('acs/index.ts')});
       const e = await startAcsEmulator({ runningPolls: 1 });
       console.log(JSON.stringify({ connectionString: e.connectionString }));`,
    );
    const connectionString = emu.info.connectionString!;
    if (isMailerSide()) {
      process.env.MR_BENCH_ACS = connectionString;
      const entry = { provider: 'azure', mode: 'api', connectionString: { env: 'MR_BENCH_ACS' } };
      return mailerSide([entry], () => apiModeMessage, {}, emu.stop);
    }
    const client = new EmailClient(connectionString, {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    });
    const m = apiModeMessage;
    return rawSide({
      send: () =>
        client.beginSend(
          {
            senderAddress: m.from.address,
            content: { subject: m.subject, plainText: m.text, html: m.html },
            recipients: { to: [{ address: m.to }] },
          },
          { operationId: randomUUID() },
        ),
      close: async () => emu.stop(),
    });
  }
  // Gmail and OCI, as bench/api-mode-gmail-oci.ts sets them up.
  const key = rsa();
  if (args.provider === 'gmail') {
    const emu = await startEmulator(
      `const { startGmailEmulator } = await import(${emulator('gmail/index.ts')});
       const g = await startGmailEmulator({ serviceAccounts: [{ clientEmail: ${JSON.stringify(SA)}, publicKeyPem: process.env.MR_KEY }], delegatedUsers: [${JSON.stringify(SENDER)}] });
       console.log(JSON.stringify({ url: g.url, tokenUrl: g.tokenUrl }));`,
      { MR_KEY: key.publicKey },
    );
    const { url, tokenUrl } = emu.info as { url: string; tokenUrl: string };
    if (isMailerSide()) {
      process.env.MR_BENCH_GMAIL_KEY = key.privateKey;
      const entry = {
        name: 'gmail',
        provider: 'gmail',
        mode: 'api',
        endpoint: url,
        serviceAccount: { clientEmail: SA, privateKey: { env: 'MR_BENCH_GMAIL_KEY' }, tokenUrl },
        user: SENDER,
      };
      return mailerSide([entry], (i) => gmailOciInput(i, true), { provider: 'gmail' }, emu.stop);
    }
    const jwt = new auth.JWT({
      email: SA,
      key: key.privateKey,
      scopes: ['https://www.googleapis.com/auth/gmail.send'],
      subject: SENDER,
    });
    jwt.transporter.interceptors.request.add({
      resolved: async (c) => {
        if (c.url.toString() === GOOGLE_TOKEN_URL) c.url = new URL(tokenUrl);
        return c;
      },
    });
    const rootUrl = `${url}/`;
    const client = gmail({ version: 'v1', auth: jwt, rootUrl });
    return rawSide({
      send: async (i) =>
        client.users.messages.send(
          { userId: 'me', media: { mimeType: 'message/rfc822', body: await composeRaw(i) } },
          { rootUrl, retry: false },
        ),
      close: async () => emu.stop(),
    });
  }
  const emu = await startEmulator(
    `const { startOciEmulator } = await import(${emulator('oci/index.ts')});
     const o = await startOciEmulator({ keys: [{ keyId: ${JSON.stringify(`${OCI.tenancy}/${OCI.user}/${OCI.fingerprint}`)}, publicKeyPem: process.env.MR_KEY }] });
     console.log(JSON.stringify({ url: o.url }));`,
    { MR_KEY: key.publicKey },
  );
  const url = emu.info.url!;
  const withAttachment = args.provider === 'oci-raw';
  if (isMailerSide()) {
    process.env.MR_BENCH_OCI_KEY = key.privateKey;
    const entry = {
      name: 'oci',
      provider: 'oci',
      mode: 'api',
      region: 'us-ashburn-1',
      endpoint: url,
      compartmentId: COMPARTMENT,
      apiKey: { ...OCI, privateKey: { env: 'MR_BENCH_OCI_KEY' } },
    };
    return mailerSide([entry], (i) => gmailOciInput(i, withAttachment), { provider: 'oci' }, emu.stop);
  }
  const client = new EmailDPClient(
    {
      authenticationDetailsProvider: new SimpleAuthenticationDetailsProvider(
        OCI.tenancy,
        OCI.user,
        OCI.fingerprint,
        key.privateKey,
        null,
      ),
    },
    {
      retryConfiguration: NoRetryConfigurationDetails,
      circuitBreaker: new CircuitBreaker({ disableClientCircuitBreaker: true }),
    },
  );
  client.endpoint = url;
  const close = async () => {
    client.close();
    emu.stop();
  };
  if (withAttachment) {
    return rawSide({
      send: async (i) => {
        const raw = (await composeRaw(i)).toString('utf8');
        return client.submitRawEmail({
          contentType: requests.SubmitRawEmailRequest.ContentType.MessageRfc822,
          compartmentId: COMPARTMENT,
          sender: SENDER,
          recipients: gmailOciInput(i, false).to,
          rawMessage: raw,
          contentLength: Buffer.byteLength(raw),
        });
      },
      close,
    });
  }
  return rawSide({
    send: (i) => {
      const m = gmailOciInput(i, false);
      return client.submitEmail({
        submitEmailDetails: {
          sender: { senderAddress: { email: SENDER, name: 'Bench' }, compartmentId: COMPARTMENT },
          recipients: { to: m.to.map((email) => ({ email })) },
          subject: m.subject,
          bodyText: m.text,
          bodyHtml: m.html,
        },
      });
    },
    close,
  });
}

async function pump(count: number, from: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = from;
  const end = from + count;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < end) await send(next++);
    }),
  );
}

const { send, close } = await setUp();
await pump(WARMUP, 0, send);
const t0 = process.hrtime.bigint();
const cpu = process.cpuUsage();
await pump(COUNT, WARMUP, send);
const used = process.cpuUsage(cpu);
const t1 = process.hrtime.bigint();
await close();
console.log(
  JSON.stringify({
    ...args,
    count: COUNT,
    rate: (COUNT / Number(t1 - t0)) * 1e9,
    cpuMsPerMessage: (used.user + used.system) / 1000 / COUNT,
    window: { startUs: Number(t0 / 1000n), endUs: Number(t1 / 1000n) },
  }),
);
