import type { JobsOptions, KeepJobs } from 'bullmq';
import type { Config } from '../config/index.js';

/**
 * Retry and backoff of upload jobs, from `[publish]`. Retention is not here: it is set
 * once on the worker (`uploadRetention`), since options stored in every job cost Redis
 * memory per queued file (64 B of the 1,058 B measured per job in bench/FINDINGS.md).
 */
export function uploadJobOptions(publish: Config['publish']): JobsOptions {
  return {
    // BullMQ counts the first try as an attempt; the seed's max_retry counts retries.
    attempts: publish.max_retry + 1,
    backoff: { type: 'exponential', delay: publish.retry_backoff_seconds * 1000 },
  };
}

/**
 * How long finished upload jobs stay, from `[publish]`: BullMQ applies a worker's
 * `removeOnComplete` / `removeOnFail` to every job without its own (BullMQ >= 5). Jobs
 * queued by an older daemon still carry their own, which win.
 */
export function uploadRetention(publish: Config['publish']): { removeOnComplete: KeepJobs; removeOnFail: KeepJobs } {
  return {
    removeOnComplete: { age: Math.round(publish.keep_completed_hours * 3600) },
    removeOnFail: { age: Math.round(publish.keep_failed_days * 86400) },
  };
}
