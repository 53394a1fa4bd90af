// One side of the send() vs raw nodemailer benchmark, in its own process: sends `count` messages with at most
// `concurrency` in flight to the given SMTP server, then prints elapsed time and peak memory as JSON.
import { createTransport } from 'nodemailer';
import { Mailer } from '../../core/mailer.ts';
import { createAdapter } from '../../providers/index.ts';

interface Args {
  side: 'mailroute' | 'nodemailer';
  host: string;
  port: number;
  count: number;
  concurrency: number;
  maxConnections: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const attachment = Buffer.alloc(2048, 7).toString('base64');
const message = (i: number) => ({
  from: 'Bench <bench@example.com>',
  to: [`user${i}@example.com`],
  subject: `Benchmark message ${i}`,
  text: `Hello number ${i}.\n`.repeat(20),
  html: `<p>Hello number <b>${i}</b>.</p>`.repeat(20),
  attachments: [{ filename: 'data.bin', contentType: 'application/octet-stream', content: attachment }],
});

let sendOne: (i: number) => Promise<unknown>;
let close: () => Promise<void>;
if (args.side === 'mailroute') {
  const mailer = new Mailer(
    {
      providers: [
        {
          name: 'local',
          provider: 'local',
          mode: 'smtp',
          smtp: { host: args.host, port: args.port, pool: { maxConnections: args.maxConnections, maxMessages: 100 } },
        },
      ],
    },
    createAdapter,
  );
  sendOne = (i) => mailer.send(message(i));
  close = () => mailer.close();
} else {
  const transport = createTransport({
    host: args.host,
    port: args.port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: args.maxConnections,
    maxMessages: 100,
    name: 'localhost',
  });
  sendOne = (i) => transport.sendMail(message(i));
  close = async () => transport.close();
}

// Warm up one connection so both sides start from a connected pool.
await sendOne(-1);
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: args.concurrency }, async () => {
    while (next < args.count) await sendOne(next++);
  }),
);
const ms = performance.now() - started;
await close();
console.log(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
