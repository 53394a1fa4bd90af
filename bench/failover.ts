import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { composeMessage } from '../core/message/compose.ts';
import { normalizeMessage } from '../core/message/validate.ts';
import { createAdapter } from '../providers/index.ts';
import { startCaptureServer } from '../providers/local/capture-server.ts';
import { divertFromHangingPrimary } from './divert-silent.ts';
import { type BenchSection, fmt, median } from './lib.ts';

const message = (i: number) => ({
  from: 'Bench <bench@example.com>',
  to: `user${i}@example.com`,
  subject: `Failover bench ${i}`,
  text: 'Hello.',
});

/** Sends `count` messages with `concurrency` in flight; returns elapsed ms and the number throttled. */
async function drive(mailer: Mailer, count: number, concurrency: number) {
  let next = 0;
  let throttled = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        try {
          await mailer.send(message(i));
        } catch (error) {
          if ((error as { code?: string }).code === 'THROTTLED') throttled++;
          else throw error;
        }
      }
    }),
  );
  return { ms: performance.now() - started, throttled };
}

async function pacing(outbox: string) {
  const rate = 50;
  const seconds = 20;
  const mailer = new Mailer(
    validateConfig({
      providers: [
        { name: 'paced', provider: 'local', mode: 'api', rateLimits: [{ limit: rate, per: 'second', burst: 1 }] },
      ],
      outboxDir: outbox,
      retry: { maxRateWaitMs: 60_000 },
    }),
    createAdapter,
  );
  const { ms, throttled } = await drive(mailer, rate * seconds, 20);
  await mailer.close();
  return { rate, achieved: (rate * seconds) / (ms / 1000), throttled, seconds: ms / 1000 };
}

async function routerOverhead(outbox: string) {
  const mailer = new Mailer(
    validateConfig({ providers: [{ name: 'a', provider: 'local', mode: 'api' }], outboxDir: outbox }),
    createAdapter,
  );
  const adapter = await mailer.adapter('a');
  const direct: number[] = [];
  const routed: number[] = [];
  for (let round = 0; round < 400; round++) {
    // Direct: what a caller of the adapter alone would do (validate, compose, send).
    let t = performance.now();
    const prepared = await composeMessage(normalizeMessage(message(round)));
    await adapter.send(prepared, {});
    direct.push(performance.now() - t);
    t = performance.now();
    await mailer.send(message(round));
    routed.push(performance.now() - t);
  }
  await mailer.close();
  return { direct: median(direct.slice(50)), routed: median(routed.slice(50)) };
}

async function divert(outbox: string) {
  const capture = await startCaptureServer({ outboxDir: join(outbox, 'primary') });
  const mailer = new Mailer(
    validateConfig({
      providers: [
        {
          name: 'primary',
          provider: 'local',
          mode: 'smtp',
          smtp: { host: capture.host, port: capture.port, connectionTimeoutMs: 2000 },
        },
        { name: 'secondary', provider: 'local', mode: 'api', outboxDir: join(outbox, 'secondary') },
      ],
      health: { cooldownMs: 60_000 },
    }),
    createAdapter,
  );
  for (let i = 0; i < 20; i++) await mailer.send(message(i));
  await (await mailer.adapter('primary')).close();
  const downAt = performance.now();
  await capture.close();
  const latencies: number[] = [];
  let firstDiverted: number | undefined;
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    const result = await mailer.send(message(i));
    latencies.push(performance.now() - t);
    if (result.name === 'secondary' && firstDiverted === undefined) firstDiverted = performance.now() - downAt;
  }
  await mailer.close();
  return {
    firstDivertedMs: firstDiverted ?? Number.NaN,
    firstSendMs: latencies[0]!,
    laterMedianMs: median(latencies.slice(1)),
  };
}

/** Pacing accuracy, the latency the router adds, and how fast traffic leaves a provider that went down. */
export async function run(): Promise<BenchSection> {
  const outbox = mkdtempSync(join(tmpdir(), 'mr-bench-failover-'));
  try {
    const p = await pacing(join(outbox, 'pacing'));
    const o = await routerOverhead(join(outbox, 'overhead'));
    const d = await divert(join(outbox, 'divert'));
    const quiet = [
      await divertFromHangingPrimary(join(outbox, 'quiet'), 1),
      await divertFromHangingPrimary(join(outbox, 'quiet'), 10),
    ];
    return {
      title: 'Failover router: pacing, overhead, time to divert',
      markdown: [
        '| measure | result |',
        '| --- | --- |',
        `| pacing: configured rate | ${p.rate} msg/s (token bucket, burst 1), ${p.rate * 20} messages, 20 in flight |`,
        `| pacing: achieved rate | ${fmt(p.achieved, 2)} msg/s over ${fmt(p.seconds, 1)} s (**${fmt(p.achieved / p.rate, 3)}** of configured), ${p.throttled} throttled |`,
        `| router latency, all healthy (median of 350 sends, local API adapter) | direct validate+compose+adapter.send ${fmt(o.direct, 3)} ms; \`Mailer.send()\` ${fmt(o.routed, 3)} ms; added ${fmt(o.routed - o.direct, 3)} ms |`,
        `| time to divert after the primary (SMTP) stops listening | first send delivered by the secondary ${fmt(d.firstDivertedMs, 1)} ms after the stop; that send took ${fmt(d.firstSendMs, 1)} ms; later sends (primary marked down, skipped) median ${fmt(d.laterMedianMs, 2)} ms |`,
        ...quiet.map(
          (q) =>
            `| time to divert from a primary that hangs (SES API takes every request and never answers; 1 s deadline per send; ${q.inFlight} in flight) | first send delivered by the secondary ${fmt(q.firstDivertedMs, 1)} ms after the hang began; **${q.ambiguous} of ${q.messages}** ended AMBIGUOUS (handed to it before its circuit opened: the ones in flight, plus the ones started before 3 failures were counted), the rest delivered by the secondary |`,
        ),
      ].join('\n'),
    };
  } finally {
    rmSync(outbox, { recursive: true, force: true });
  }
}
