// One emulator of the throughput benchmark (bench/throughput.ts) in its own process, driven over IPC:
// `sqs` (emulators/sqs) or `ses` (emulators/ses: the fault proxy in front of aws-ses-v2-local, with `latencyMs`
// added to every SendEmail). The process's CPU time is reported on request, so the bench can charge it per message.
import { createRequire } from 'node:module';
import { startSesEmulator } from '../../emulators/ses/index.ts';
import { startSqsEmulator } from '../../emulators/sqs/index.ts';

interface Args {
  kind: 'sqs' | 'ses';
  latencyMs?: number;
}

export type EmulatorRequest = { id: number; type: 'cpu' } | { id: number; type: 'stored'; prefix: string };

const args = JSON.parse(process.argv[2]!) as Args;
const send = (message: unknown) => process.send!(message);

/**
 * When aws-ses-v2-local stored each message, by subject, in epoch ms: its own `at` is in whole seconds. Its v2
 * SendEmail calls the store module's `saveEmail` through the module's exports at each call, so wrapping the export
 * sees every message the moment it is stored (after the proxy's latency), and changes nothing else.
 */
const storedAt = new Map<string, number[]>();
if (args.kind === 'ses') {
  const store = createRequire(import.meta.url)('aws-ses-v2-local/dist/store.js') as {
    saveEmail: (email: { subject: string }) => void;
  };
  const save = store.saveEmail;
  store.saveEmail = (email) => {
    const at = Date.now();
    const list = storedAt.get(email.subject);
    if (list) list.push(at);
    else storedAt.set(email.subject, [at]);
    save(email);
  };
}

const emulator =
  args.kind === 'sqs'
    ? await startSqsEmulator()
    : await (async () => {
        const ses = await startSesEmulator();
        // The send path only (`POST /v2/email/outbound-emails`): the cold start's identity check is not delayed.
        ses.faults.add({ latencyMs: args.latencyMs ?? 0, fraction: 1, pathIncludes: '/v2/email/outbound-emails' });
        return ses;
      })();

process.on('message', (request: EmulatorRequest | { type: 'close' }) => {
  if (request.type === 'close') {
    void emulator.close().finally(() => process.exit(0));
    return;
  }
  if (request.type === 'cpu') send({ id: request.id, value: process.cpuUsage() });
  else {
    const stored = [...storedAt].filter(([subject]) => subject.startsWith(request.prefix));
    send({ id: request.id, value: stored });
  }
});
// The bench went away without closing: do not outlive it.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', url: emulator.url });
