import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUT_DIR = join(REPO_ROOT, 'dist', 'gcp');
export const SOURCE_ZIP_NAME = 'mailroute-gcp-source.zip';

/**
 * The Functions Framework stays out of the bundle: the runtime starts the framework from the function's own
 * node_modules and looks the entry point up in its registry, so our `functions.cloudEvent()` must register into
 * that same copy. Cloud Build installs it from the zip's package.json, pinned to the version the tests ran.
 */
const FRAMEWORK = '@google-cloud/functions-framework';

export interface GcpPackage {
  zip: string;
  bytes: number;
  /** Paths inside the zip. */
  files: string[];
  durationMs: number;
}

/**
 * Bundles `functions/gcp/index.ts` (both functions) with esbuild into ESM chunks (each provider's SDK in its own,
 * loaded only when the configuration names it) and writes the zip Cloud Functions builds from: `index.mjs`,
 * `chunks/`, and a package.json whose only dependency is the Functions Framework.
 *
 * @example
 * const { zip } = await packageGcp(); // dist/gcp/mailroute-gcp-source.zip, for terraform's source_zip
 */
export async function packageGcp(outDir = DEFAULT_OUT_DIR): Promise<GcpPackage> {
  const started = performance.now();
  const staging = join(outDir, 'source');
  await rm(staging, { recursive: true, force: true });
  await build({
    entryPoints: { index: join(REPO_ROOT, 'functions/gcp/index.ts') },
    outdir: staging,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    mainFields: ['module', 'main'],
    external: [FRAMEWORK],
    logLevel: 'silent',
    // CommonJS dependencies call require() for Node built-ins; an ESM bundle has none, so give it one.
    banner: {
      js: "import { createRequire as __mailrouteCreateRequire } from 'node:module'; const require = __mailrouteCreateRequire(import.meta.url);",
    },
  });
  const framework = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', FRAMEWORK, 'package.json'), 'utf8'));
  const manifest = {
    name: 'mailroute-gcp-functions',
    private: true,
    type: 'module',
    main: 'index.mjs',
    engines: { node: '22' },
    dependencies: { [FRAMEWORK]: framework.version },
  };
  await writeFile(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const files = (await readdir(staging, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(staging, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
  const entries = await Promise.all(files.map(async (name) => ({ name, data: await readFile(join(staging, name)) })));
  const zip = join(outDir, SOURCE_ZIP_NAME);
  const archive = writeZip(entries);
  await mkdir(outDir, { recursive: true });
  await writeFile(zip, archive);
  return { zip, bytes: archive.length, files, durationMs: performance.now() - started };
}

/**
 * A deflated zip of the given files, with a fixed timestamp so equal sources give equal bytes (and the same
 * object name in the source bucket: no redeploy for an unchanged build).
 */
export function writeZip(entries: { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const DOS_DATE_1980_01_01 = 0x21;
  for (const { name, data } of entries) {
    const fileName = Buffer.from(name, 'utf8');
    const compressed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(0x031e, 4); // made by: Unix, 3.0
    local.copy(header, 6, 4, 26); // version needed ... uncompressed size: the same fields
    header.writeUInt16LE(fileName.length, 28);
    header.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
    header.writeUInt32LE(offset, 42);
    locals.push(local, fileName, compressed);
    central.push(header, fileName);
    offset += local.length + fileName.length + compressed.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await packageGcp(process.argv[2]);
  const size = `${(result.bytes / 2 ** 20).toFixed(2)} MB`;
  process.stdout.write(
    `Wrote ${result.zip} (${result.files.length} files, ${size}) in ${Math.round(result.durationMs)} ms\n`,
  );
}
