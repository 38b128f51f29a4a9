import type { RedisClient as Redis } from '../queue/index.js';
import type { HookOutcome } from './metrics.js';

/** One run of the post-sync command, as `GET /hooks/runs` shows it. */
export interface HookRun {
  /** BullMQ job id of the run (retries of one job share it). */
  job_id: string;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  outcome: HookOutcome;
  /** Exit status, or null when the process was ended by a signal or never started. */
  exit_code: number | null;
  signal: string | null;
  /** Why the command could not run at all (for example `spawn ssh ENOENT`). */
  error?: string;
  /** Files uploaded since the last successful run (`SYNC4LOONG_UPLOADED_COUNT`). */
  uploaded_count: number;
  /** Keys written to the command's stdin (at most `MAX_REPORTED_KEYS`). */
  keys_sent: number;
  /** Whether a failed run will be tried again. */
  will_retry: boolean;
  /** Last bytes of the command's output (UTF-8, at most `OUTPUT_TAIL_BYTES` each). */
  stdout_tail: string;
  stderr_tail: string;
}

export interface RunHistory {
  add(run: HookRun): Promise<void>;
  /** Newest first. */
  list(): Promise<HookRun[]>;
}

/** The last `size` runs, as JSON strings in one Redis list (newest at the head). */
export function createRunHistory(deps: { redis: Redis }, options: { key: string; size: number }): RunHistory {
  return {
    async add(run) {
      await deps.redis
        .multi()
        .lpush(options.key, JSON.stringify(run))
        .ltrim(options.key, 0, options.size - 1)
        .exec();
    },
    async list() {
      const entries = await deps.redis.lrange(options.key, 0, options.size - 1);
      const runs: HookRun[] = [];
      for (const entry of entries) {
        try {
          runs.push(JSON.parse(entry) as HookRun);
        } catch {
          // a foreign or damaged entry: leave it out rather than fail the whole listing
        }
      }
      return runs;
    },
  };
}
