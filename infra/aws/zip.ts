import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  compressedSize: number;
  /** The uncompressed content (stored or deflated entries). */
  read(): Buffer;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

/**
 * The entries of a zip archive, read from its central directory: enough to inspect a Lambda package (no
 * zip64, no encryption) without an unzip dependency.
 */
export function readZip(zip: Buffer): ZipEntry[] {
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== END_OF_CENTRAL_DIRECTORY) end--;
  if (end < 0) throw new Error('not a zip archive: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL_DIRECTORY_ENTRY) throw new Error(`bad central directory entry at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    entries.push({
      name,
      size,
      compressedSize,
      read: () => {
        if (zip.readUInt32LE(localHeader) !== LOCAL_FILE_HEADER) throw new Error(`bad local header for ${name}`);
        const start = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
        const data = zip.subarray(start, start + compressedSize);
        if (method === 0) return Buffer.from(data);
        if (method === 8) return inflateRawSync(data);
        throw new Error(`${name}: unsupported compression method ${method}`);
      },
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

// `import{a as b}from"./x.mjs"`, `import"./x.mjs"`, `export*from"./x.mjs"`; never `import("./x.mjs")`.
const STATIC_IMPORT = /\b(?:import|export)\s*(?:[\w$*{},\s]*?\bfrom\s*)?["'](\.{1,2}\/[^"']+)["']/g;

/**
 * The files an ESM entry loads before its first line runs: the entry and every file reachable from it through
 * static `import`/`export ... from` of relative paths. Files reached only through `import()` are left out:
 * they cost nothing until called.
 */
export function staticImportClosure(files: Map<string, string>, entry: string): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    const text = files.get(file);
    if (text === undefined) throw new Error(`${file} is imported but not in the package`);
    seen.add(file);
    for (const match of text.matchAll(STATIC_IMPORT)) {
      pending.push(posix.normalize(posix.join(posix.dirname(file), match[1]!)));
    }
  }
  return [...seen];
}

/** The bytes an ESM entry loads before its first line runs (`staticImportClosure`), in a directory of modules. */
export function upFrontBytes(dir: string, entry: string): number {
  const files = new Map<string, string>();
  for (const found of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!found.isFile() || !found.name.endsWith('.mjs')) continue;
    const path = join(found.parentPath, found.name);
    files.set(relative(dir, path).split(sep).join('/'), readFileSync(path, 'utf8'));
  }
  return staticImportClosure(files, entry).reduce((sum, file) => sum + Buffer.byteLength(files.get(file)!), 0);
}
