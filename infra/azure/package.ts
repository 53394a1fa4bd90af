import { execFile } from 'node:child_process';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface AzurePackage {
  /** The function app's root: host.json, package.json and dist/. */
  appDir: string;
  /** The same as a zip, for `az functionapp deployment source config-zip`; absent with `zip: false`. */
  zipFile?: string;
  bundleBytes: number;
}

/**
 * Builds the function app as Azure expects it: `host.json` and a `package.json` whose `main` is the bundled
 * entry (functions/azure/index.ts, which registers every function). Everything is bundled, so the app has no
 * node_modules and needs no remote build; `@azure/functions-core` is the one module the worker itself provides.
 * The adapters and their SDKs are split into chunks loaded on first use, as the configuration asks for them.
 *
 * @example
 * const { zipFile } = await packageAzure({ outDir: '.azure-build' });
 */
export async function packageAzure(options: { outDir?: string; zip?: boolean } = {}): Promise<AzurePackage> {
  const appDir = join(options.outDir ?? join(REPO_ROOT, '.azure-build'), 'app');
  await rm(appDir, { recursive: true, force: true });
  await mkdir(appDir, { recursive: true });
  const result = await build({
    entryPoints: { index: join(REPO_ROOT, 'functions/azure/index.ts') },
    outdir: join(appDir, 'dist'),
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    platform: 'node',
    target: 'node22',
    minify: true,
    metafile: true,
    // ESM esbuild output cannot `require()`; the CommonJS packages bundled here (the SDKs, @azure/functions) do.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    external: ['@azure/functions-core'],
    logLevel: 'warning',
  });
  await copyFile(join(REPO_ROOT, 'functions/azure/host.json'), join(appDir, 'host.json'));
  const manifest = { name: 'mailroute-azure-functions', private: true, type: 'module', main: 'dist/index.mjs' };
  await writeFile(join(appDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const bundleBytes = Object.values(result.metafile.outputs).reduce((total, output) => total + output.bytes, 0);
  if (options.zip === false) return { appDir, bundleBytes };
  const zipFile = join(appDir, '..', 'mailroute-azure.zip');
  await rm(zipFile, { force: true });
  await promisify(execFile)('zip', ['-qr', zipFile, '.'], { cwd: appDir });
  return { appDir, zipFile, bundleBytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await packageAzure({ outDir: process.argv[2] });
  process.stdout.write(`Function app in ${out.appDir} (${(out.bundleBytes / 2 ** 20).toFixed(1)} MiB of JavaScript)\n`);
  if (out.zipFile) process.stdout.write(`Zip for deployment: ${out.zipFile}\n`);
}
