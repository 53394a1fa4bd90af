import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { packageAzure, REPO_ROOT } from '../infra/azure/package.ts';
import { packageGcp } from '../infra/gcp/package.ts';
import { bundleOciFunction } from '../infra/oci/bundle.ts';
import { bundleAlone, COLD_IMPORT_GOAL, coldStarts, ratio, ratioOver, verdict } from './cold-start.ts';
import { type BenchSection, fmt, type SummaryRow } from './lib.ts';

const ROUNDS = 11;
let sockets = 0;

/** Every file below a folder, with its size. */
function sizes(dir: string): { total: number; files: number } {
  let total = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += statSync(join(entry.parentPath, entry.name)).size;
    files += 1;
  }
  return { total, files };
}

const config = (entry: Record<string, unknown>) =>
  JSON.stringify({ providers: [{ name: 'api', mode: 'api', ...entry }] });

interface Cloud {
  label: string;
  dir: string;
  entry: string;
  env: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  /** What the platform loads before it imports the entry. */
  preload?: string;
  sdk: { label: string; contents: string; options: BuildOptions };
}

/**
 * Each cloud's bundled entry (it registers every function of the app) against that cloud's email SDK bundled alone
 * the same way (its packaging script's esbuild settings): size, and cold import in fresh Node processes.
 */
export async function run(): Promise<BenchSection> {
  const work = mkdtempSync(join(tmpdir(), 'mr-bench-bundles-'));
  const gcpDir = join(REPO_ROOT, 'dist', 'bench-gcp');
  try {
    const azure = await packageAzure({ outDir: join(work, 'azure'), zip: false });
    await packageGcp(gcpDir);
    const ociDir = join(work, 'oci');
    await bundleOciFunction(ociDir);
    const clouds: Cloud[] = [
      {
        label: 'Azure Functions app (`functions/azure/index.ts`)',
        dir: join(azure.appDir, 'dist'),
        entry: join(azure.appDir, 'dist', 'index.mjs'),
        env: {
          MAILROUTE_CONFIG: config({ provider: 'azure', connectionString: { env: 'ACS_CONNECTION_STRING' } }),
          ACS_CONNECTION_STRING: 'endpoint=https://bench.communication.azure.com/;accesskey=YmVuY2g=',
        },
        sdk: {
          label: '`@azure/communication-email`',
          contents: "export { EmailClient } from '@azure/communication-email';",
          options: {},
        },
      },
      {
        label: 'Google Cloud Functions (`functions/gcp/index.ts`)',
        dir: join(gcpDir, 'source'),
        entry: join(gcpDir, 'source', 'index.mjs'),
        env: {
          MAILROUTE_CONFIG: config({
            provider: 'gmail',
            serviceAccount: { clientEmail: 'x@example.com', privateKey: { env: 'KEY' } },
          }),
        },
        // The Cloud Functions runtime starts the Functions Framework, which then imports the entry.
        preload: '@google-cloud/functions-framework',
        sdk: {
          label: '`@googleapis/gmail`',
          contents: "export { auth, gmail } from '@googleapis/gmail';",
          options: { mainFields: ['module', 'main'] },
        },
      },
      {
        label: 'OCI Functions (`functions/oci/func.ts`)',
        dir: ociDir,
        entry: join(ociDir, 'func.mjs'),
        // Fn's listener socket, one per process (fdk leaves it behind when the process exits).
        env: () => ({
          MAILROUTE_CONFIG: config({ provider: 'oci', region: 'eu-frankfurt-1', auth: 'resourcePrincipal' }),
          FN_FORMAT: 'http-stream',
          FN_LISTENER: `unix:${join(work, `fn-${++sockets}.sock`)}`,
        }),
        sdk: {
          label: '`oci-emaildataplane`',
          contents: "export { EmailDPClient, requests } from 'oci-emaildataplane';",
          options: {},
        },
      },
    ];
    const lines: string[] = [];
    const empties: string[] = [];
    const summary: SummaryRow[] = [];
    for (const [i, cloud] of clouds.entries()) {
      const sdkFile = join(work, `sdk-${i}`, 'index.mjs');
      const sdkBytes = await bundleAlone(cloud.sdk.contents, sdkFile, REPO_ROOT, cloud.sdk.options);
      const preload = cloud.preload ? { preload: cloud.preload } : {};
      const subjects = [
        { label: 'sdk', specifier: pathToFileURL(sdkFile).href, env: cloud.env, ...preload },
        { label: cloud.label, specifier: pathToFileURL(cloud.entry).href, env: cloud.env, ...preload },
      ];
      const { emptyMs, emptyCpuMs, times } = await coldStarts(subjects, ROUNDS, REPO_ROOT, cloud.preload);
      const [sdk, entry] = times as [(typeof times)[0], (typeof times)[0]];
      const all = sizes(cloud.dir);
      const whole = ratioOver(entry.processMs, sdk.processMs, emptyMs);
      lines.push(
        `| ${cloud.label} | ${fmt(statSync(cloud.entry).size / 1024)} KB | ${fmt(all.total / 1024)} KB in ${all.files} files | ${fmt(entry.processMs - emptyMs, 1)} | ${fmt(entry.importMs, 1)} | ${cloud.sdk.label} ${fmt(sdkBytes / 1024)} KB: ${fmt(sdk.processMs - emptyMs, 1)} / ${fmt(sdk.importMs, 1)} | ${verdict(whole)} | ${ratio(ratioOver(entry.cpuMs, sdk.cpuMs, emptyCpuMs))} | ${ratio(entry.importMs / sdk.importMs)} |`,
      );
      empties.push(`${fmt(emptyMs, 1)} ms`);
      summary.push({
        measure: `${cloud.label}: cold import / ${cloud.sdk.label} bundled alone (process, less empty \`node\`)`,
        goal: `≤ ${COLD_IMPORT_GOAL}×`,
        now: `${ratio(whole)} (CPU ${ratio(ratioOver(entry.cpuMs, sdk.cpuMs, emptyCpuMs))})`,
        met: whole <= COLD_IMPORT_GOAL,
      });
    }
    return {
      title: 'Azure, Google Cloud and OCI handlers: bundle size and cold import',
      markdown: [
        'Each built with its own packaging script (esbuild, ESM, minified; provider adapters and their SDKs in chunks',
        "loaded only when the configuration names them), against its cloud's email SDK bundled alone with the same",
        'settings and banner. Cold import: fresh `node` processes importing the entry (which registers the functions;',
        "on Google Cloud after the Functions Framework, which the runtime loads first, and which the SDK's process and",
        `the empty one load too), taking turns with the SDK, medians of ${ROUNDS}. "Process" is spawn to exit less an empty`,
        `\`node\` (${empties.join(', ')}, the second with the framework); "import" is \`await import()\` timed inside the`,
        'process; "CPU" is the process\'s user and system time less the empty one\'s, steadier than wall time on a busy',
        `machine. The mailer (zod, the configuration schema, the providers) loads with the first invocation, as on AWS`,
        `(see the AWS section for what the first send costs). Goal: process ratio ≤ ${COLD_IMPORT_GOAL}×.`,
        '',
        `| handler | entry file | whole bundle | process (ms) | import (ms) | SDK alone: size, process / import (ms) | process ratio (goal ≤ ${COLD_IMPORT_GOAL}×) | CPU ratio | import ratio |`,
        '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
        ...lines,
      ].join('\n'),
      summary,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(gcpDir, { recursive: true, force: true });
  }
}
