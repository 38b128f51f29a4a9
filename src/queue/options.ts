import type { JobsOptions } from 'bullmq';
import type { Config } from '../config/index.js';

/** Retry, backoff and retention of upload jobs, from `[publish]`. */
export function uploadJobOptions(publish: Config['publish']): JobsOptions {
  return {
    // BullMQ counts the first try as an attempt; the seed's max_retry counts retries.
    attempts: publish.max_retry + 1,
    backoff: { type: 'exponential', delay: publish.retry_backoff_seconds * 1000 },
    removeOnComplete: { age: Math.round(publish.keep_completed_hours * 3600) },
    removeOnFail: { age: Math.round(publish.keep_failed_days * 86400) },
  };
}
