import { join } from 'node:path';
import { validateConfig } from '../core/config/config.ts';
import { Mailer } from '../core/mailer.ts';
import { startSesEmulator } from '../emulators/ses/proxy.ts';
import { createAdapter } from '../providers/index.ts';

export interface SilentDivert {
  inFlight: number;
  /** From the moment the primary went quiet to the first message delivered by the secondary. */
  firstDivertedMs: number;
  /** Messages of the run that ended AMBIGUOUS (handed to the quiet primary before its circuit opened). */
  ambiguous: number;
  messages: number;
}

/**
 * Time to divert from a primary that goes quiet: SES (API mode, the emulator) starts taking every request and
 * never answering; each send has a 1 s deadline (a function's remaining time), the secondary writes an outbox.
 * With `inFlight` sends at a time, as a queue handler's batch would.
 */
export async function divertFromHangingPrimary(outbox: string, inFlight: number): Promise<SilentDivert> {
  const ses = await startSesEmulator();
  process.env.MR_BENCH_SES_KEY = 'AKIDBENCH';
  process.env.MR_BENCH_SES_SECRET = 'bench-secret';
  const mailer = new Mailer(
    validateConfig({
      providers: [
        {
          name: 'ses',
          provider: 'ses',
          mode: 'api',
          region: 'eu-west-1',
          endpoint: ses.url,
          credentials: { accessKeyId: { env: 'MR_BENCH_SES_KEY' }, secretAccessKey: { env: 'MR_BENCH_SES_SECRET' } },
        },
        { name: 'secondary', provider: 'local', mode: 'api', outboxDir: join(outbox, `secondary-${inFlight}`) },
      ],
      health: { failureThreshold: 3, cooldownMs: 60_000 },
    }),
    createAdapter,
  );
  const messages = 100;
  const send = (i: number) =>
    mailer.send(
      { from: 'bench@example.com', to: `user${i}@example.com`, subject: `Quiet ${i}`, text: 'Hello.' },
      { idempotencyKey: `quiet-${inFlight}-${i}`, deadline: Date.now() + 1_000 },
    );
  try {
    for (let i = 0; i < 10; i++) await send(-1 - i); // warm: the SDK loaded, a connection open
    ses.faults.add({ hang: true, fraction: 1, pathIncludes: 'outbound-emails' });
    const quietAt = performance.now();
    let firstDiverted: number | undefined;
    let ambiguous = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < messages) {
          const i = next++;
          try {
            const result = await send(i);
            if (result.name === 'secondary') firstDiverted ??= performance.now() - quietAt;
          } catch (error) {
            if ((error as { code?: string }).code === 'AMBIGUOUS') ambiguous++;
            else throw error;
          }
        }
      }),
    );
    return { inFlight, firstDivertedMs: firstDiverted ?? Number.NaN, ambiguous, messages };
  } finally {
    await mailer.close();
    await ses.close();
  }
}
