/**
 * Another process sharing a FileStore's file, as the CLI and `mailroute serve` do. `MR_FILE_STORE` holds a JSON
 * command:
 * - `{ "mode": "increment", "path", "key", "times" }`: prints `ready`, waits for a line on stdin (so that racers
 *   start together), then adds 1 to the counter record `key` `times` times by get + put/update (compare-and-set,
 *   retried when it loses), and prints `{"done":times,"lost":n}` (n: compare-and-sets lost to the other racers).
 * - `{ "mode": "hold-lock", "path" }`: takes the store's lock, prints `locked`, and waits forever (to be killed).
 */

import { createInterface } from 'node:readline';
import { acquireFileLock, FileStore } from '../../stores/file.ts';

type Command = { mode: 'increment'; path: string; key: string; times: number } | { mode: 'hold-lock'; path: string };

const command = JSON.parse(process.env.MR_FILE_STORE ?? '{}') as Command;

if (command.mode === 'hold-lock') {
  const store = new FileStore({ path: command.path });
  await acquireFileLock(store.lockPath, { staleMs: 60_000, timeoutMs: 10_000 });
  process.stdout.write('locked\n');
  // Held until killed: a timer keeps the process alive.
  setInterval(() => {}, 60_000);
} else if (command.mode === 'increment') {
  const store = new FileStore({ path: command.path });
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  let lost = 0;
  for (let done = 0; done < command.times; ) {
    const current = await store.get<number>(command.key);
    const written = current
      ? await store.update(command.key, current.value + 1, current.version)
      : await store.put(command.key, 1);
    if (written === undefined) lost += 1;
    else done += 1;
  }
  process.stdout.write(`${JSON.stringify({ done: command.times, lost })}\n`);
  await store.close();
  process.exit(0);
} else {
  process.stderr.write(`unknown command: ${process.env.MR_FILE_STORE}\n`);
  process.exit(2);
}
