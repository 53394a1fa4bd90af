import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where `functions/oci/func.yaml` expects the bundle (`entrypoint: node dist/func.mjs`). */
export const OCI_DIST = join(REPO_ROOT, 'functions', 'oci', 'dist');

/**
 * Bundles the OCI function (`functions/oci/func.ts` and everything it imports, SDKs included) into
 * `dist/func.mjs` plus lazily loaded chunks (the providers' SDKs stay behind `import()`), for Node 22: the
 * directory fn builds the image from needs no `npm install`.
 *
 * @example node infra/oci/bundle.ts   # then: cd functions/oci && fn build
 */
export async function bundleOciFunction(outdir = OCI_DIST): Promise<string[]> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { func: join(REPO_ROOT, 'functions', 'oci', 'func.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    metafile: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS dependencies (fdk, the OCI SDK) call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __mrRequire } from 'node:module'; const require = __mrRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return Object.keys(result.metafile.outputs);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outputs = await bundleOciFunction();
  process.stdout.write(`${outputs.length} files in ${OCI_DIST}\n`);
}
