import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncMetrics } from '../sync/metrics.js';
import type { CheckMetrics } from '../check/metrics.js';

/** The daemon's Prometheus registry (its own, never the global one) and the metrics it holds. */
export interface Metrics {
  registry: Registry;
  sync: SyncMetrics;
  check: CheckMetrics;
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
  const check = createCheckMetrics(registry);
  return {
    registry,
    check,
    sync: {
      uploaded(size, durationMs) {
        files.inc({ outcome: 'uploaded' });
        bytes.inc(size);
        duration.observe(durationMs / 1000);
      },
      skipped() {
        files.inc({ outcome: 'skipped' });
      },
      failed() {
        files.inc({ outcome: 'failed' });
      },
    },
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
