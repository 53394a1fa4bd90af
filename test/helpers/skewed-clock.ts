/**
 * Preloaded (`node --import`) into a sender process whose clock must run ahead of or behind the others':
 * `Date.now()` and `new Date()` are shifted by `MR_CLOCK_OFFSET_MS`, as on a machine whose wall clock is off.
 * Timers and `performance.now()` are untouched, as they are on such a machine (they count elapsed time).
 */
const offset = Number(process.env.MR_CLOCK_OFFSET_MS ?? 0);

if (offset) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + offset);
      else super(...(args as [string]));
    }
    static override now(): number {
      return realNow() + offset;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
}
