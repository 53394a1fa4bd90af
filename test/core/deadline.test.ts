import { afterEach, describe, expect, it, vi } from 'vitest';
import { callSignal, deadlinePassed } from '../../core/util/deadline.ts';

afterEach(() => vi.restoreAllMocks());

describe('deadlinePassed', () => {
  it("is true once the call signal's deadline timer fired, even while Date.now() is still short of the deadline", async () => {
    // Timers run on the event loop's clock, read at the start of a loop turn: a timer set late in a busy turn fires
    // that much before the wall clock reaches the deadline. Here the wall clock is held 5 ms short of it.
    const context = { deadline: Date.now() + 30 };
    const signal = callSignal(context)!;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    vi.spyOn(Date, 'now').mockReturnValue(context.deadline - 5);
    expect(deadlinePassed(context)).toBe(true);
  });

  it('is false before the deadline while the timer has not fired, and true by the clock alone', () => {
    const context = { deadline: Date.now() + 60_000 };
    callSignal(context);
    expect(deadlinePassed(context)).toBe(false);
    expect(deadlinePassed(context, context.deadline)).toBe(true);
    expect(deadlinePassed({ deadline: Date.now() - 1 })).toBe(true);
    expect(deadlinePassed({})).toBe(false);
  });
});
