import { errors } from '../errors.js';
import {
  QUEUE_JOB_STATES,
  type JobCountSource,
  type QueueJobState,
  type ThroughputWindow,
  type ThroughputTotals,
} from '../metrics/index.js';
import { withTimeout } from '../timeout.js';
import type { ThrottleStats } from '../throttle/index.js';

/** A failed job as `/stats` reads it (a BullMQ `Job` fits). */
export interface FailedJobView {
  id?: string | undefined;
  data: unknown;
  failedReason: string;
  finishedOn?: number | undefined;
}

/** The part of a BullMQ queue `/stats` reads (a `Queue` fits). */
export interface StatsQueue extends JobCountSource {
  /** Newest first, as BullMQ's `Queue#getFailed` returns them. */
  getFailed(start?: number, end?: number): Promise<FailedJobView[]>;
}

export interface QueueStats {
  paused: boolean;
  counts: Record<QueueJobState, number>;
}

export interface LastError {
  /** ISO time the job failed for good. */
  time: string;
  queue: string;
  job_id: string | null;
  /** The job's `s3_key` (upload jobs); null for jobs without one. */
  key: string | null;
  message: string;
}

/** The body of `GET /stats`. */
export interface Stats {
  time: string;
  queues: Record<string, QueueStats>;
  /** This daemon's workers over the last `seconds` seconds. */
  last_minute: ThroughputTotals;
  /** The most recent job that failed for good, across all queues (null when none is kept). */
  last_error: LastError | null;
  /** This daemon's upload throttle: concurrency limit, bandwidth cap, throttling answers (null: runs no uploads). */
  throttle: ThrottleStats | null;
}

export interface StatsReader {
  read(): Promise<Stats>;
}

/**
 * Cheap answers for scripts: per queue one pipelined count, one flag and the newest failed
 * job (three small Redis calls), plus the in-process throughput window. Throws
 * `queueUnavailable` (503) at once when Redis does not answer within `timeoutMs`.
 */
export function createStatsReader(
  deps: { queues: readonly StatsQueue[]; throughput: ThroughputWindow; throttle?: (() => ThrottleStats) | undefined },
  options: { timeoutMs: number },
): StatsReader {
  async function readQueue(queue: StatsQueue): Promise<{ stats: QueueStats; lastError: LastError | null }> {
    const [counts, paused, failed] = await Promise.all([queue.getJobCounts(...QUEUE_JOB_STATES), queue.isPaused(), queue.getFailed(0, 0)]);
    const stats: QueueStats = {
      paused,
      counts: Object.fromEntries(QUEUE_JOB_STATES.map((state) => [state, counts[state] ?? 0])) as Record<QueueJobState, number>,
    };
    const job = failed[0];
    const lastError =
      job === undefined
        ? null
        : {
            time: new Date(job.finishedOn ?? 0).toISOString(),
            queue: queue.name,
            job_id: job.id ?? null,
            key: s3KeyOf(job.data),
            message: job.failedReason,
          };
    return { stats, lastError };
  }

  return {
    async read() {
      let perQueue: Awaited<ReturnType<typeof readQueue>>[];
      try {
        perQueue = await withTimeout(Promise.all(deps.queues.map(readQueue)), options.timeoutMs);
      } catch {
        throw errors.queueUnavailable();
      }
      const queues: Record<string, QueueStats> = {};
      let lastError: LastError | null = null;
      perQueue.forEach(({ stats, lastError: candidate }, index) => {
        queues[deps.queues[index]!.name] = stats;
        if (candidate !== null && (lastError === null || candidate.time > lastError.time)) lastError = candidate;
      });
      return {
        time: new Date().toISOString(),
        queues,
        last_minute: deps.throughput.totals(),
        last_error: lastError,
        throttle: deps.throttle?.() ?? null,
      };
    },
  };
}

function s3KeyOf(data: unknown): string | null {
  const key = (data as { s3_key?: unknown } | null)?.s3_key;
  return typeof key === 'string' ? key : null;
}
