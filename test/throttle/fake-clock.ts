import type { Clock } from '../../src/throttle/index.js';

/** A clock moved by hand: `sleep` resolves only when `advance` passes its deadline. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing due sleeps in order and letting their continuations run. */
  advance(ms: number): Promise<void>;
  /** Sleeps not yet due. */
  pending(): number;
}

/** Lets promise continuations (and those they schedule) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

export function createFakeClock(): FakeClock {
  let now = 0;
  const sleepers: Array<{ at: number; resolve(): void }> = [];
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const sleeper = { at: now + Math.max(0, ms), resolve };
        sleepers.push(sleeper);
        signal?.addEventListener(
          'abort',
          () => {
            const index = sleepers.indexOf(sleeper);
            if (index >= 0) sleepers.splice(index, 1);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    },
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        sleepers.sort((a, b) => a.at - b.at);
        const next = sleepers[0];
        if (next === undefined || next.at > end) break;
        sleepers.shift();
        now = next.at;
        next.resolve();
        await settle();
      }
      now = end;
      await settle();
    },
    pending: () => sleepers.length,
  };
}
