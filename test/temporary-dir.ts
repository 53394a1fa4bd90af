import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Global setup: every temporary file and directory of the run (the tests' mkdtemp directories, the outboxes, what
// the CLI and the processes the tests start write, osls's bundles) goes under one directory of its own, removed when
// the run ends, so that a test that does not clean up after itself leaves nothing behind. The workers, and every
// process a test starts, inherit TMPDIR, which os.tmpdir() (and mkdtemp through it) reads.
export default function setup() {
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'mailroute-test-run-'));
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
