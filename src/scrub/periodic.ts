/**
 * `scrub.interval_hours`: a check-only scrub of `scrub.prefix` every interval. Every daemon
 * on the Redis ticks; the first to take the lock runs it, and a daemon skips its tick when
 * the last scrub on this prefix finished less than 90% of an interval ago.
 */
import { AppError } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { Scrubber } from './scrubber.js';

export interface PeriodicScrub {
  start(): void;
  close(): void;
}

export function createPeriodicScrub(
  deps: { scrubber: Scrubber; log: Logger },
  options: { intervalMs: number; prefix: string },
): PeriodicScrub {
  let timer: NodeJS.Timeout | undefined;

  async function tick(): Promise<void> {
    try {
      const last = await deps.scrubber.lastSummary();
      if (last !== null && Date.now() - Date.parse(last.finished_at) < options.intervalMs * 0.9) return;
      const id = await deps.scrubber.start({ prefix: options.prefix });
      deps.log.info({ scrub_id: id }, 'periodic scrub started');
    } catch (error) {
      if (error instanceof AppError && error.code === 'SCRUB_RUNNING') deps.log.debug('periodic scrub skipped: another is running');
      else deps.log.warn({ err: error }, 'periodic scrub could not start');
    }
  }

  return {
    start() {
      if (options.intervalMs <= 0 || timer !== undefined) return;
      timer = setInterval(() => void tick(), options.intervalMs);
      timer.unref();
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
