import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../stores/file.ts';
import { createStore } from '../../stores/index.ts';
import { waitFor } from '../helpers/sender.ts';

const SCRIPT = fileURLToPath(new URL('../helpers/file-store-process.ts', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroute-file-store-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A path of its own in a directory that does not exist yet (the store creates it). */
const newPath = () => join(dir, randomUUID(), 'state.json');

const TTL_MS = 300;
const outlive = (since: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, since + TTL_MS + 50 - Date.now())));

describe.concurrent('FileStore: the StateStore contract', () => {
  it('reads an absent key, in a file that does not exist yet, as undefined', async () => {
    const store = new FileStore({ path: newPath() });
    expect(await store.get('absent')).toBeUndefined();
    expect((await store.list!('')).records).toEqual([]);
  });

  it('creates with put (directory and file included), refuses a second put, reads value, version and expiry', async () => {
    const path = newPath();
    const store = new FileStore({ path });
    const before = Date.now();
    const version = await store.put('put', { state: 'in-progress' }, { ttlMs: 60_000 });
    expect(version).toBeTypeOf('string');
    expect(await store.put('put', { state: 'other' })).toBeUndefined();
    const record = await store.get<{ state: string }>('put');
    expect(record).toMatchObject({ key: 'put', value: { state: 'in-progress' }, version });
    expect(record?.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(record?.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(existsSync(path)).toBe(true);
    await store.put('forever', 1);
    expect((await store.get('forever'))?.expiresAt).toBeUndefined();
  });

  it('updates at the current version only: a stale version loses', async () => {
    const store = new FileStore({ path: newPath() });
    await store.put('update', { n: 1 }, { ttlMs: 60_000 });
    const first = (await store.get<{ n: number }>('update'))!;
    const written = await store.update('update', { n: 2 }, first.version);
    const second = (await store.get<{ n: number }>('update'))!;
    expect(second.value).toEqual({ n: 2 });
    expect(written).toBe(second.version);
    expect(written).not.toBe(first.version);
    // A write replaces the lifetime too: none given, none kept.
    expect(second.expiresAt).toBeUndefined();
    expect(await store.update('update', { n: 3 }, first.version)).toBeUndefined();
    expect(await store.update('update', { n: 3 }, 'not-a-version')).toBeUndefined();
    expect(await store.update('absent', 1, first.version)).toBeUndefined();
    expect(await store.get('update')).toEqual(second);
  });

  it('deletes only at the current version when one is given, and unconditionally without one', async () => {
    const store = new FileStore({ path: newPath() });
    const stale = (await store.put('delete', 'a'))!;
    await store.update('delete', 'b', stale);
    await store.delete('delete', stale);
    expect((await store.get('delete'))?.value).toBe('b');
    await store.delete('delete');
    expect(await store.get('delete')).toBeUndefined();
    await store.delete('delete');
    await store.delete('absent', stale);
    // Put again after a delete: a new life, which the old version cannot touch.
    await store.put('delete', 'c');
    expect(await store.update('delete', 'd', stale)).toBeUndefined();
  });

  it('treats an expired record as absent (get, update, put, list) and drops it from the file on the next write', async () => {
    const path = newPath();
    const store = new FileStore({ path });
    await store.put('expiry', 'first', { ttlMs: TTL_MS });
    const version = (await store.put('expiry-update', 'first', { ttlMs: TTL_MS }))!;
    const writtenAt = Date.now();
    expect((await store.get('expiry'))?.value).toBe('first');
    await outlive(writtenAt);

    expect(await store.get('expiry')).toBeUndefined();
    expect((await store.list!('expiry')).records).toEqual([]);
    expect(await store.update('expiry-update', 'late', version)).toBeUndefined();
    expect(await store.put('expiry', 'second', { ttlMs: 60_000 })).toBeTypeOf('string');
    expect((await store.get('expiry'))?.value).toBe('second');
    expect(await store.put('expiry', 'third')).toBeUndefined();
    const content = JSON.parse(await readFile(path, 'utf8')) as { records: Record<string, unknown> };
    expect(Object.keys(content.records)).toEqual(['expiry']);
  });

  it('lets exactly one of 10 concurrent puts of a new key win, from two instances on one file', async () => {
    const path = newPath();
    const [one, two] = [new FileStore({ path }), new FileStore({ path })];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).put('race-put', { winner: i })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await one.get('race-put'))?.value).toEqual({ winner: results.findIndex(Boolean) });
  });

  it('lets exactly one of 10 concurrent updates at the same version win', async () => {
    const path = newPath();
    const [one, two] = [new FileStore({ path }), new FileStore({ path })];
    const version = (await one.put('race-update', { winner: -1 }))!;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).update('race-update', { winner: i }, version)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await two.get('race-update'))?.value).toEqual({ winner: results.findIndex(Boolean) });
  });

  it('keeps every one of many concurrent writes of one instance, and leaves no lock or temporary file', async () => {
    const path = newPath();
    const store = new FileStore({ path });
    const keys = Array.from({ length: 100 }, (_, i) => `sup:${i}`);
    const versions = await Promise.all(keys.map((key, i) => store.put(key, { i })));
    expect(versions.every((version) => typeof version === 'string')).toBe(true);
    expect((await store.list!('sup:')).records).toHaveLength(100);
    // A second instance reads the same file.
    expect((await new FileStore({ path }).get('sup:42'))?.value).toEqual({ i: 42 });
    await store.close();
    expect(await readdir(join(path, '..'))).toEqual(['state.json']);
  });

  it('round-trips JSON values and any key', async () => {
    const store = new FileStore({ path: newPath() });
    const value = { nested: { list: [1, 'two', null, true], empty: {} }, text: 'quote " \\ \n ✉️' };
    const keys = ['a/b\\c', 'idem#1?x=2', '  spaced  ', 'clé-✉️-键-🔑', 'tab\there\u0001', '__proto__'];
    for (const key of keys) {
      await store.put(key, value);
      expect(await store.get(key)).toMatchObject({ key, value });
    }
    for (const scalar of [0, 'plain', false, null]) {
      await store.put(`scalar:${String(scalar)}`, scalar);
      expect((await store.get(`scalar:${String(scalar)}`))?.value).toEqual(scalar);
    }
    // What get hands out is a copy: changing it changes nothing stored.
    const got = (await store.get<typeof value>('a/b\\c'))!;
    got.value.nested.list.push(5);
    expect((await store.get('a/b\\c'))?.value).toEqual(value);
    await expect(store.put('bad', () => {})).rejects.toThrow(/not JSON-serializable/);
  });

  it('refuses a file that is not its own rather than overwriting it', async () => {
    const path = newPath();
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'not json');
    const store = new FileStore({ path });
    await expect(store.get('a')).rejects.toThrow(path);
    await expect(store.put('a', 1)).rejects.toThrow(path);
    expect(await readFile(path, 'utf8')).toBe('not json');
  });

  it('is what createStore builds for { type: "file" }', async () => {
    const path = newPath();
    const store = await createStore({ type: 'file', path });
    expect(store).toBeInstanceOf(FileStore);
    await store.put('k', 'v');
    expect((await new FileStore({ path }).get('k'))?.value).toBe('v');
  });
});

interface Child {
  child: ChildProcess;
  /** Everything it printed on stdout so far. */
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnChild(command: Record<string, unknown>): Child {
  const child = spawn(process.execPath, [SCRIPT], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MR_FILE_STORE: JSON.stringify(command) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
      else resolve({ code, signal });
    });
  });
  exited.catch(() => {});
  return { child, stdout: () => stdout, exited };
}

describe('FileStore shared by processes', () => {
  it('loses no update when two processes race 200 compare-and-set increments each on one record', async () => {
    const path = newPath();
    const racers = [0, 1].map(() => spawnChild({ mode: 'increment', path, key: 'counter', times: 200 }));
    try {
      await waitFor(() => racers.every((racer) => racer.stdout().includes('ready\n')), 'both racers to start');
      for (const racer of racers) racer.child.stdin!.write('go\n');
      await Promise.all(racers.map((racer) => racer.exited));
    } finally {
      for (const racer of racers) racer.child.kill('SIGKILL');
    }
    const reports = racers.map(
      (racer) => JSON.parse(racer.stdout().trim().split('\n').at(-1)!) as { done: number; lost: number },
    );
    expect(reports.map((report) => report.done)).toEqual([200, 200]);
    const record = await new FileStore({ path }).get<number>('counter');
    expect(record?.value).toBe(400);
    // Nothing left behind: no lock, no temporary file.
    expect(await readdir(join(path, '..'))).toEqual(['state.json']);
  }, 120_000);

  it('breaks a lock left by a process killed while holding it, once it is stale', async () => {
    const path = newPath();
    const lockPath = `${path}.lock`;
    const holder = spawnChild({ mode: 'hold-lock', path });
    try {
      await waitFor(() => existsSync(lockPath), 'the child to take the lock');
      holder.child.kill('SIGKILL');
      expect((await holder.exited).signal).toBe('SIGKILL');
    } finally {
      holder.child.kill('SIGKILL');
    }
    // The crash left the lock behind.
    const lockedAt = (await stat(lockPath)).mtimeMs;

    // While the lock is younger than the stale time, a write waits, then fails naming the lock file.
    const patient = new FileStore({ path, staleLockMs: 60_000, lockTimeoutMs: 200 });
    await expect(patient.put('after-crash', 'x')).rejects.toThrow(lockPath);
    expect(existsSync(path)).toBe(false);

    // Once older than the stale time, it is broken and the write goes through.
    const staleLockMs = 1_000;
    const store = new FileStore({ path, staleLockMs });
    expect(await store.put('after-crash', 'written')).toBeTypeOf('string');
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual(staleLockMs);
    expect((await store.get('after-crash'))?.value).toBe('written');
    expect(existsSync(lockPath)).toBe(false);
    expect(await readdir(join(path, '..'))).toEqual(['state.json']);
  }, 30_000);
});
