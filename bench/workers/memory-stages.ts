// Where the memory of one large send goes, stage by stage, in its own process: the steps `serve` takes for one
// body (collected, decoded to text, parsed, validated, composed, written to the local outbox), each keeping what
// the real code keeps at that moment. For each: the peak resident set while it ran, above the start (VmHWM, reset
// before each step), and what is still held once it is done (V8 heap + external memory after a full collection).
// Prints JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { prepareMessage } from '../../core/message/compose.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { outboxAttachments, storeInOutbox } from '../../providers/local/outbox.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const { bytes } = JSON.parse(process.argv[2]!) as { bytes: number };
const status = () => readFileSync('/proc/self/status', 'utf8');
const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status())?.[1] ?? 0) * 1024;
/** V8 heap and external memory once collected; freed array buffers are given back off the thread, so twice. */
const held = async () => {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

interface Stage {
  stage: string;
  peakAboveStart: number;
  heldAfter: number;
}
const stages: Stage[] = [];
const start = await held();
const startRss = field('VmRSS');
async function step<T>(stage: string, run: () => T | Promise<T>): Promise<T> {
  await held();
  writeFileSync('/proc/self/clear_refs', '5');
  const value = await run();
  const peak = field('VmHWM');
  stages.push({ stage, peakAboveStart: peak - startRss, heldAfter: (await held()) - start });
  return value;
}

// The body as it comes off the wire: a message whose attachment fills `bytes` of JSON.
const head = `{"from":"a@example.com","to":["b@example.com"],"subject":"Large","text":"Attached.","attachments":[{"filename":"large.bin","content":"`;
const fill = Math.floor((bytes - head.length - 4) / 4) * 4;
let buffer: Buffer | undefined = await step('body collected (one buffer of the Content-Length)', () => {
  const b = Buffer.allocUnsafe(bytes).fill(0x20);
  b.write(head, 0, 'latin1');
  b.fill(0x41, head.length, head.length + fill);
  b.write('"}]}', head.length + fill, 'latin1');
  return b;
});
let text: string | undefined = await step('decoded to text (the buffer let go)', () => {
  const t = buffer!.toString('utf8');
  buffer = undefined;
  return t;
});
const input = await step('parsed (JSON.parse; the text let go, as the router does)', () => {
  const parsed = JSON.parse(text!) as unknown;
  text = undefined;
  return parsed;
});
const message = await step('validated: the attachment decoded from base64 (the parsed JSON still held)', () =>
  normalizeMessage(input),
);
const prepared = prepareMessage(message);
const raw = await step('composed: the MIME (nodemailer)', () => prepared.mime());
const dir = await mkdtemp(join(tmpdir(), 'mr-bench-stages-'));
await step('written to the outbox: the summary from its header section', () =>
  storeInOutbox(dir, raw, prepared.envelope, 'api', outboxAttachments(prepared.message.attachments)),
);
await rm(dir, { recursive: true, force: true });
// Kept alive to here, as the send keeps them until it returns.
void [input, message, prepared, raw];
process.stdout.write(`${JSON.stringify({ bytes, stages })}\n`);
