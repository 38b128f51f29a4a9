import { Counter, Histogram, type Registry } from 'prom-client';
import type { StorageMetrics } from '../storage/index.js';

/** `sync4loong_storage_*`: every storage call timed, failures counted by operation. */
export function createStorageMetrics(registry: Registry): StorageMetrics {
  const errors = new Counter({
    name: 'sync4loong_storage_errors_total',
    help: 'Storage (S3) operations that failed, by operation (head, put_file, ping).',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'sync4loong_storage_operation_duration_seconds',
    help: 'Duration of storage (S3) operations, failed ones included, by operation.',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  // Zero series exist from the start, so `rate()` and alerts work before the first error.
  for (const operation of ['head', 'put_file', 'list', 'ping']) errors.inc({ operation }, 0);
  return {
    observe(operation, durationMs, failed) {
      duration.observe({ operation }, durationMs / 1000);
      if (failed) errors.inc({ operation });
    },
  };
}
