import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busiestWindow, runPacedInstances, type SharedStore, sendsPerWindow } from '../helpers/pacing.ts';

const LIMIT = 10;
const BURST = 1;
const INTERVAL_MS = 1_000 / LIMIT;
const SECONDS = 20;

/**
 * The acceptance test of a shared rate limit on one store: three sender processes share it, each pacing the same
 * provider at 10/s (burst 1) while it sends as fast as it can, for 20 s: 24 sends in flight each, 72 callers for
 * 10 slots a second, more than `maxRateWaitMs` (5 s, 50 slots) can queue, so refused sends (THROTTLED) are tried
 * again 100 ms later and the store is raced all the time. (The limiter this replaced, which fell back to a
 * per-instance bucket after 20 lost compare-and-set rounds, sent 19 to 36 in a second here.)
 *
 * Checked against the slots the store granted, as it answered each process (epoch ms, on the machine's one
 * clock), not against when each process got round to sending: a loaded machine sends late, never early, and the
 * slots are what the limiter promises. Every send asked the store and got a slot of its own (none paced alone),
 * and the provider took it at or after that slot. The limit holds exactly: with a burst of 1, consecutive slots
 * are at least one interval (100 ms) apart, so no 1 s, wherever it starts, holds more than limit + burst − 1 = 10.
 * The rate is delivered: a slot is never left unused while a send waits for a later one, so a gap longer than one
 * interval only ever ends in a slot the store gave at once (it was due when its answer came back: the limit had
 * gone idle because no process was asking, as on a machine too busy to keep up); and at least half the limit's
 * slots over the 20 s were taken (a floor for a limiter whose store cannot be won at all; on a quiet machine all
 * 200 are).
 */
export function describeSharedPacing(start: () => Promise<SharedStore>): void {
  describe('a 10/s limit shared by three processes', () => {
    let shared: SharedStore | undefined;
    beforeAll(async () => {
      shared = await start();
    });
    afterAll(() => shared?.stop());

    it(`holds in every 1 s window and delivers the rate, for ${SECONDS} s`, { timeout: 90_000 }, async () => {
      const instances = await runPacedInstances(shared!, {
        instances: 3,
        concurrency: 24,
        durationMs: (SECONDS + 1) * 1_000,
        rateLimits: [{ limit: LIMIT, per: 'second', burst: BURST }],
      });
      // [send number, slot, when the grant came back], in the order of the slots.
      const granted = instances.flatMap((instance) => instance.slots).sort((a, b) => a[1] - b[1]);
      const slots = granted.map(([, at]) => at);
      const inPeriod = slots.filter((at) => at < slots[0]! + SECONDS * 1_000).length;
      const gaps = granted.slice(1).map(([, at, answeredAt], i) => ({ ms: at - slots[i]!, due: at <= answeredAt }));
      const times = instances.flatMap((instance) => instance.times);
      // Printed for the record: when the provider took the messages shows how late the machine sent them.
      console.log(
        JSON.stringify({
          store: shared!.name,
          slotsPerWindow: sendsPerWindow(slots, 1_000, SECONDS),
          slotsIn20s: inPeriod,
          idleGapsMs: gaps.filter((gap) => gap.ms > INTERVAL_MS + 1e-6).map((gap) => gap.ms),
          takenPerWindow: sendsPerWindow(times, 1_000, SECONDS),
          busiestSliding1sTaken: busiestWindow(times, 1_000, SECONDS * 1_000),
          perInstance: instances.map((instance) => instance.sent),
          refused: instances.map((instance) => instance.errors.THROTTLED ?? 0),
        }),
      );
      for (const instance of instances) {
        // Refusals (a slot further than maxRateWaitMs) are expected when sending flat out; nothing else is.
        expect(
          Object.keys(instance.errors).filter((code) => code !== 'THROTTLED'),
          instance.log,
        ).toEqual([]);
        expect(instance.deliveries).toHaveLength(instance.sent);
        // Every instance got slots: three contenders, not one process alone.
        expect(instance.sent).toBeGreaterThan(0);
        // The store answered throughout: no instance paced itself alone.
        expect(instance.log).not.toContain('rate limit store unreachable');
        // Each send asked the store and got a slot of its own, and the provider took it no earlier than that
        // slot (less 1 ms: a timer may fire within the millisecond before the wall clock shows it).
        const slotOf = new Map(instance.slots.map(([n, at]) => [n, at]));
        expect(instance.slots).toHaveLength(instance.sent);
        expect(slotOf.size).toBe(instance.sent);
        const early = instance.deliveries.filter(({ n, at }) => !(at >= Math.floor(slotOf.get(n) ?? Infinity) - 1));
        expect(early, 'messages taken before their slot, or without one').toEqual([]);
      }
      // The limit: one interval between slots (burst 1), so never more than limit + burst − 1 in any 1 s.
      expect(Math.min(...gaps.map((gap) => gap.ms))).toBeGreaterThanOrEqual(INTERVAL_MS - 1e-6);
      expect(busiestWindow(slots, 1_000, Number.POSITIVE_INFINITY)).toBeLessThanOrEqual(LIMIT + BURST - 1);
      // The rate: no slot skipped while a send waited for a later one.
      expect(gaps.filter((gap) => gap.ms > INTERVAL_MS + 1e-6 && !gap.due)).toEqual([]);
      expect(inPeriod).toBeGreaterThanOrEqual(0.5 * LIMIT * SECONDS);
    });
  });
}
