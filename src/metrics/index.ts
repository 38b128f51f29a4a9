import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncMetrics } from '../sync/metrics.js';
// ---- monitoring (issue 6): imports ----
import type { StorageMetrics } from '../storage/index.js';
import { registerQueueMetrics, type JobCountSource } from './queues.js';
import { createStorageMetrics } from './storage.js';
import { createThroughputWindow, type ThroughputWindow } from './throughput.js';

export { QUEUE_JOB_STATES, type JobCountSource, type QueueJobState } from './queues.js';
export type { ThroughputWindow, ThroughputTotals } from './throughput.js';
// ---- end monitoring (issue 6): imports ----
import type { HookMetrics } from '../hooks/metrics.js';
import type { CheckMetrics } from '../check/metrics.js';
// ---- throttling (issue 20 part 2): imports ----
import type { ThrottleMetrics } from '../throttle/index.js';
import { createThrottleMetrics } from './throttle.js';
// ---- end throttling (issue 20 part 2): imports ----
import { createScrubMetrics, type ScrubMetrics } from './scrub.js'; // scrub (issue 20.1)

export type { ScrubMetrics } from './scrub.js'; // scrub (issue 20.1)

/** The daemon's Prometheus registry (its own, never the global one) and the metrics it holds. */
export interface Metrics {
  registry: Registry;
  sync: SyncMetrics;
  // ---- monitoring (issue 6): interface ----
  /** Times and counts every storage call (handed to `instrumentStorage`). */
  storage: StorageMetrics;
  /** This daemon's uploads, skips and failures of the last minute (`GET /stats`). */
  throughput: ThroughputWindow;
  /**
   * Reports jobs by state of these queues on every scrape. Called once by the wiring, after
   * the queues exist; `onError` hears about scrapes Redis did not answer.
   */
  watchQueues(queues: readonly JobCountSource[], onError?: (error: unknown) => void): void;
  // ---- end monitoring (issue 6): interface ----
  hooks: HookMetrics;
  check: CheckMetrics;
  /** `GET /batches/{id}/events` streams open on this daemon (handed to the batch routes). */
  eventStreams: { opened(): void; closed(): void };
  // ---- throttling (issue 20 part 2): interface ----
  /** The concurrency limit, throttling answers and bandwidth-cap waits (handed to the upload throttle). */
  throttle: ThrottleMetrics;
  // ---- end throttling (issue 20 part 2): interface ----
  /** `sync4loong_scrub_*` (scrub, issue 20.1). */
  scrub: ScrubMetrics;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sync4loong_' });
  const files = new Counter({
    name: 'sync4loong_files_total',
    help: 'Files processed by the upload workers, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const bytes = new Counter({ name: 'sync4loong_uploaded_bytes_total', help: 'Bytes uploaded.', registers: [registry] });
  const duration = new Histogram({
    name: 'sync4loong_upload_duration_seconds',
    help: 'Time to process one uploaded file (decide, upload, verify).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  // ---- monitoring (issue 6): storage, queues, throughput ----
  // Zero series from the start, so rate() works before the first event of each outcome.
  for (const outcome of ['uploaded', 'skipped', 'failed']) files.inc({ outcome }, 0);
  const storage = createStorageMetrics(registry);
  const throughput = createThroughputWindow();
  let watched: readonly JobCountSource[] = [];
  let onQueueError: (error: unknown) => void = () => {};
  registerQueueMetrics(registry, () => watched, { timeoutMs: 2000, onError: (error) => onQueueError(error) });
  // ---- end monitoring (issue 6): storage, queues, throughput ----
  const hookRuns = new Counter({
    name: 'sync4loong_hook_runs_total',
    help: 'Runs of the post-sync command, by outcome (success, failure, timeout).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const check = createCheckMetrics(registry);
  const eventStreams = new Gauge({
    name: 'sync4loong_event_streams_open',
    help: 'GET /batches/{id}/events streams open on this daemon.',
    registers: [registry],
  });
  const throttle = createThrottleMetrics(registry); // throttling (issue 20 part 2)
  return {
    registry,
    throttle, // throttling (issue 20 part 2)
    eventStreams: { opened: () => eventStreams.inc(), closed: () => eventStreams.dec() },
    hooks: {
      run(outcome) {
        hookRuns.inc({ outcome });
      },
    },
    check,
    scrub: createScrubMetrics(registry), // scrub (issue 20.1)
    sync: {
      uploaded(size, durationMs) {
        files.inc({ outcome: 'uploaded' });
        bytes.inc(size);
        duration.observe(durationMs / 1000);
        throughput.record('uploaded', size); // monitoring (issue 6)
      },
      skipped() {
        files.inc({ outcome: 'skipped' });
        throughput.record('skipped'); // monitoring (issue 6)
      },
      failed() {
        files.inc({ outcome: 'failed' });
        throughput.record('failed'); // monitoring (issue 6)
      },
    },
    // ---- monitoring (issue 6): members ----
    storage,
    throughput,
    watchQueues(queues, onError = () => {}) {
      watched = [...queues];
      onQueueError = onError;
    },
    // ---- end monitoring (issue 6): members ----
  };
}

function createCheckMetrics(registry: Registry): CheckMetrics {
  const hits = new Counter({
    name: 'sync4loong_check_cache_hits_total',
    help: '/check answers served from the Redis cache.',
    registers: [registry],
  });
  const misses = new Counter({
    name: 'sync4loong_check_cache_misses_total',
    help: '/check lookups that found no cache entry (or Redis unreachable) and asked S3.',
    registers: [registry],
  });
  const heads = new Counter({
    name: 'sync4loong_check_s3_heads_total',
    help: 'S3 HEAD requests made by /check, by outcome (found, missing, error).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Children resolved once: the hit path then skips the label lookup.
  const byOutcome = { found: heads.labels('found'), missing: heads.labels('missing'), error: heads.labels('error') };
  return {
    hit: () => hits.inc(),
    miss: () => misses.inc(),
    head: (outcome) => byOutcome[outcome].inc(),
  };
}
