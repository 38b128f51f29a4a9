import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncMetrics } from '../sync/metrics.js';
import type { HookMetrics } from '../hooks/metrics.js';

/** The daemon's Prometheus registry (its own, never the global one) and the metrics it holds. */
export interface Metrics {
  registry: Registry;
  sync: SyncMetrics;
  hooks: HookMetrics;
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
  const hookRuns = new Counter({
    name: 'sync4loong_hook_runs_total',
    help: 'Runs of the post-sync command, by outcome (success, failure, timeout).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  return {
    registry,
    hooks: {
      run(outcome) {
        hookRuns.inc({ outcome });
      },
    },
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
