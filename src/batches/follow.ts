import type { BatchProgress, BatchResult } from './result.js';

export interface FollowEvents {
  /** The counters changed (and once at the start). */
  progress(progress: BatchProgress): void;
  /** The batch is finished: its full result. Nothing follows. */
  result(result: BatchResult): void;
  /** The batch disappeared (expired) while followed. Nothing follows. */
  gone(): void;
}

export interface BatchFollower {
  /** Stops following (idempotent); no timer is left behind. */
  stop(): void;
  /** Resolves once following ended, by `stop()` or after `result`/`gone`. */
  readonly done: Promise<void>;
}

/**
 * Polls a batch's counters every `intervalMs` (one Redis round trip) and reports changes,
 * then the final result. Polling keeps every daemon able to serve any batch without
 * Redis keyspace notifications or pub/sub wiring; a Redis error skips one tick.
 */
export function followBatch(
  store: { progress(id: string): Promise<BatchProgress | undefined>; result(id: string): Promise<BatchResult | undefined> },
  id: string,
  events: FollowEvents,
  options: { intervalMs: number },
): BatchFollower {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastSeen = '';
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    resolveDone();
  }

  async function tick(): Promise<void> {
    timer = undefined;
    try {
      const progress = await store.progress(id);
      if (stopped) return;
      if (progress === undefined) {
        events.gone();
        return stop();
      }
      const { duration: _changesEveryTick, ...counters } = progress;
      const seen = JSON.stringify(counters);
      if (seen !== lastSeen) {
        lastSeen = seen;
        events.progress(progress);
      }
      if (progress.finished) {
        const result = await store.result(id);
        if (stopped) return;
        if (result === undefined) events.gone();
        else events.result(result);
        return stop();
      }
    } catch {
      // Redis unreachable for a moment: try again on the next tick.
    }
    if (!stopped) timer = setTimeout(() => void tick(), options.intervalMs);
  }

  void tick();
  return { stop, done };
}
